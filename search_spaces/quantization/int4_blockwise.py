"""int4 weights as ONNX Runtime's `MatMulNBits` contrib kernel runs them ("ort-matmulnbits").

Weight-only: a linear layer's weight W (out, in) is cut along its input dimension into blocks of
`block_size` values (the last block padded with zeros); each block of each output channel has one float32
scale = max|w| / 7, and each value is stored as round(w / scale) in -7..7, offset by 8 into an unsigned
4-bit code 1..15 (MatMulNBits without a zero-point input takes 8 as the zero point, so the code is
symmetric). Two codes per byte, the even element in the low nibble, laid out as MatMulNBits reads B:
(out, blocks, block_size / 2) uint8; scales as (out * blocks,) float32.

Activations stay float32: at the default `accuracy_level` (0: fp32 compute) the CPU kernel dequantizes
each block to (code - 8) * scale in float32 and multiplies in float32, which is exactly the fake
quantization below (the same rounding of the same float32 product), up to the summation order.

The scale is max|w| / 7 (15 levels) rather than ONNX Runtime's own quantizer's signed max / -8 (16
levels): one level fewer, but the grid is the same for w and -w, and the whole rule fits in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from search_spaces.errors import ConfigError

SCHEME = "ort-matmulnbits"  # the name a hardware profile gives this scheme (`int4_scheme`)
QMAX = 7  # symmetric codes -7..7
ZERO_POINT = 8  # MatMulNBits' default zero point for 4 bits
BLOCK_SIZES = (16, 32, 64, 128, 256)  # MatMulNBits takes a power of two >= 16
DEFAULT_BLOCK_SIZE = 32
OPERATORS = ("MatMulNBits",)  # the kernel an int4 layer runs in ONNX Runtime's optimized graph


def block_size_argument(value: object) -> int:
    """The space argument `int4_block_size`, checked."""
    if isinstance(value, bool) or value not in BLOCK_SIZES:
        raise ConfigError(f"space argument 'int4_block_size' must be one of {list(BLOCK_SIZES)}, got {value!r}")
    return int(value)


def quantize_blocks(weight, block_size: int):
    """(codes, scales) of a torch weight (out, in): codes (out, blocks, block_size) int in -7..7, scales
    (out, blocks) float32; the input dimension zero-padded to a whole number of blocks."""
    import torch
    import torch.nn.functional as F

    detached = weight.detach().float()
    out_features, in_features = detached.shape
    blocks = -(-in_features // block_size)
    padded = F.pad(detached, (0, blocks * block_size - in_features)).reshape(out_features, blocks, block_size)
    scales = padded.abs().amax(dim=2) / QMAX
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))  # an all-zero block: codes 0, any scale
    codes = torch.clamp(torch.round(padded / scales.unsqueeze(2)), -QMAX, QMAX)
    return codes, scales


def fake_quantize_weight(weight, block_size: int):
    """The weight the kernel multiplies by, (code) * scale in float32, with a straight-through gradient."""
    codes, scales = quantize_blocks(weight, block_size)
    out_features, in_features = weight.shape
    dequantized = (codes * scales.unsqueeze(2)).reshape(out_features, -1)[:, :in_features]
    return weight + (dequantized.to(weight.dtype) - weight.detach())


def fake_linear(x, weight, bias, block_size: int):
    """`F.linear` with int4 block-wise weights and float32 activations, as MatMulNBits computes it."""
    import torch.nn.functional as F

    return F.linear(x, fake_quantize_weight(weight, block_size), bias)


def packed_weight(weight, block_size: int):
    """(B, scales) numpy arrays in MatMulNBits' layout for a torch weight (out, in)."""
    import numpy as np
    import torch

    codes, scales = quantize_blocks(weight, block_size)
    unsigned = (codes.to(torch.int64) + ZERO_POINT).numpy().astype(np.uint8)
    packed = unsigned[:, :, 0::2] | (unsigned[:, :, 1::2] << 4)
    return np.ascontiguousarray(packed), scales.numpy().astype(np.float32).reshape(-1)


def serialized_bytes(out_features: int, in_features: int, block_size: int) -> int:
    """Bytes of one int4 layer's weight in the file: packed codes plus one float32 scale per block."""
    blocks = -(-in_features // block_size)
    return out_features * blocks * (block_size // 2 + 4)


def quantize_onnx(source: Path, target: Path, int4_weights: Mapping[str, object], block_size: int) -> int:
    """Rewrite `source` into `target` with each MatMul (or Gemm) whose weight is in `int4_weights` (name ->
    torch weight (out, in)) replaced by one MatMulNBits node (and, for a Gemm, an Add of its bias); return
    how many layers were rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    from search_spaces.quantization.onnx_nodes import linear_nodes

    model = onnx.load(str(source))
    names = linear_nodes(model, int4_weights, source)
    by_node = {node_name: layer for layer, node_name in names.items()}
    graph = model.graph
    replaced_weights: set[str] = set()
    nodes = []
    for node in graph.node:
        layer = by_node.get(node.name)
        if layer is None:
            nodes.append(node)
            continue
        weight = int4_weights[layer]
        out_features, in_features = weight.shape
        packed, scales = packed_weight(weight.detach().cpu(), block_size)
        prefix = f"{node.name.strip('/').replace('/', '_')}_int4"
        graph.initializer.extend([numpy_helper.from_array(packed, f"{prefix}_B"),
                                  numpy_helper.from_array(scales, f"{prefix}_scales")])
        replaced_weights.add(node.input[1])
        bias = node.input[2] if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] else None
        output = f"{prefix}_product" if bias else node.output[0]
        nodes.append(helper.make_node("MatMulNBits", [node.input[0], f"{prefix}_B", f"{prefix}_scales"], [output],
                                      name=f"{node.name}_int4", domain="com.microsoft", K=in_features,
                                      N=out_features, bits=4, block_size=block_size))
        if bias:
            nodes.append(helper.make_node("Add", [output, bias], [node.output[0]], name=f"{node.name}_int4_bias"))
    still_used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name not in replaced_weights or tensor.name in still_used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))
    return len(names)
