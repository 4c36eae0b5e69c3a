"""nas: the engine and the user's surface (training, profiling, search, export, the elastic runtime).

Public names, imported lazily so that `import nas` stays light: `load_subnet(path)` rebuilds a
standalone sub-network checkpoint (`hwnas extract`), `ElasticModel.load(path)` opens an elastic bundle
(`hwnas export --format elastic`).
"""

from typing import Any

__all__ = ["ElasticModel", "load_subnet"]


def __getattr__(name: str) -> Any:
    if name == "load_subnet":
        from nas.subnet import load_subnet

        return load_subnet
    if name == "ElasticModel":
        from nas.elastic import ElasticModel

        return ElasticModel
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
