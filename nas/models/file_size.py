"""The size of a network's deployable file, from its config alone.

`deployed_bytes(space, config)` writes the ONNX file the search's profiling and `hwnas export` write for
that config (`export_onnx`: fp32 layers, int8 layers by the space's scheme, int4 layers as MatMulNBits)
from a freshly built network of the config's shape, and returns its length. The length of such a file does
not depend on the weights' values (every tensor is stored as fixed-length raw data; the weights are drawn
at random so that no two are equal and nothing can be folded), so it is the deployed file's size exactly,
without a trained supernet. Results are cached per (space key, config id). `size_mb` is bytes / 1e6.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

BYTES_PER_MB = 1e6
_CACHE: dict[tuple[str, str], int] = {}
_CACHE_LIMIT = 100_000  # entries (a key and an int each): a search never evaluates this many networks


def deployed_bytes(space: Any, config: Mapping[str, Any]) -> int:
    """Bytes of the ONNX file deployed for `config` (dynamic batch, the default opset)."""
    import torch

    from nas.models.onnx_export import export_onnx

    canonical = space.canonical(config)
    key = (space.key, space.config_id(canonical))
    if key not in _CACHE:
        generator = torch.Generator().manual_seed(0)
        network = space.build_network(canonical).eval()
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
        with tempfile.TemporaryDirectory(prefix="hwnas-size-") as folder:
            path = export_onnx(network, tuple(space.input_shape), Path(folder) / "network.onnx")
            size = path.stat().st_size
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = size
    return _CACHE[key]


def size_mb(space: Any, config: Mapping[str, Any]) -> float:
    """`deployed_bytes` in megabytes (1e6 bytes)."""
    return deployed_bytes(space, config) / BYTES_PER_MB
