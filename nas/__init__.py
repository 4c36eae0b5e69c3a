"""nas: the engine and the user's surface (training, profiling, search, export, the elastic runtime).

Public names, imported lazily so that `import nas` stays light: `load_subnet(path)` rebuilds a
standalone sub-network checkpoint (`hwnas extract`), `ElasticModel.load(path)` opens an elastic bundle
(`hwnas export --format elastic`).
"""

from importlib import metadata
from typing import Any

__all__ = ["ElasticModel", "__version__", "load_subnet"]

try:
    __version__ = metadata.version("hwnas")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "load_subnet":
        from nas.models.subnet import load_subnet

        return load_subnet
    if name == "ElasticModel":
        from nas.export.elastic import ElasticModel

        return ElasticModel
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
