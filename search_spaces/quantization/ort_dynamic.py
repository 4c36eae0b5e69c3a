"""The "ort-dynamic" int8 scheme: ONNX Runtime's dynamic quantization, as its CPU provider runs it.

Weights: int8, symmetric, one scale per output channel, in ONNX Runtime's reduced range -64..64
(scale = max|w| / 64). The full range -127..127 is wrong on x86 CPUs without VNNI (this machine): the
AVX2 u8 x s8 kernel adds pairs of products in saturating int16 (vpmaddubsw), and with full-range
weights 255 * 127 * 2 overflows it. Measured on one 96 -> 288 layer: 31% max relative error against
exact int8 arithmetic, and 11,528 saturated pairs; with the reduced range (255 * 64 * 2 = 32,640) the
kernel is exact, so torch and ONNX Runtime agree on every CPU.
Activations: uint8, asymmetric, one scale and zero point per tensor, computed at run time from the
tensor's own minimum and maximum (ONNX's DynamicQuantizeLinear). ONNX Runtime fuses this into
`DynamicQuantizeMatMul` (or `MatMulInteger`), integer kernels that are measured faster than fp32 here,
whereas static Q/DQ nodes around MatMul were measured no faster than fp32 on this CPU.

The fake quantization below reproduces that arithmetic in torch. The runtime computes the activation
range over the whole input tensor; a deployed model runs batch 1, so the torch side takes one range
per sample (the leading dimension) and parity runs ONNX Runtime one sample at a time.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterable, Mapping

from search_spaces.quantization.onnx_nodes import linear_nodes  # noqa: F401  (trt_qdq and tests import it here)
from search_spaces.quantization.scheme import QuantizationScheme, register_scheme

WEIGHT_QMAX = 64  # reduced-range symmetric int8 weights: -64..64 (see above)
ACTIVATION_LEVELS = 255  # uint8 activations: 0..255


def fake_quantize_weight(weight):
    """Per-output-channel symmetric int8, straight-through gradient."""
    import torch

    detached = weight.detach()
    absmax = detached.abs().amax(dim=1, keepdim=True)
    # ONNX Runtime's quantizer: scale = (2 * absmax) / (2 * qmax) in float64, stored as float32.
    scale = (2.0 * absmax.double() / (2 * WEIGHT_QMAX)).float()
    scale = torch.where(scale < torch.finfo(torch.float32).tiny, torch.ones_like(scale), scale)
    quantized = torch.clamp(torch.round(detached / scale), -WEIGHT_QMAX, WEIGHT_QMAX) * scale
    return weight + (quantized - detached)


def fake_quantize_activation(x):
    """Per-sample asymmetric uint8 with a range taken from the sample itself, straight-through gradient."""
    import torch

    detached = x.detach()
    flat = detached.reshape(detached.shape[0], -1)
    shape = (detached.shape[0],) + (1,) * (detached.dim() - 1)
    low = torch.clamp(flat.amin(dim=1), max=0.0).reshape(shape)
    high = torch.clamp(flat.amax(dim=1), min=0.0).reshape(shape)
    scale = (high - low) / ACTIVATION_LEVELS
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero_point = torch.round(torch.clamp(-low / scale, 0, ACTIVATION_LEVELS))
    quantized = torch.clamp(torch.round(detached / scale) + zero_point, 0, ACTIVATION_LEVELS)
    return x + ((quantized - zero_point) * scale - detached)


@register_scheme("ort-dynamic")
class OrtDynamicScheme(QuantizationScheme):
    description = ("ONNX Runtime dynamic quantization: int8 per-channel symmetric weights, uint8 per-tensor "
                   "activations quantized at run time (DynamicQuantizeMatMul)")
    weight_qmax = WEIGHT_QMAX

    def fake_linear(self, x, weight, bias):
        import torch.nn.functional as F

        return F.linear(fake_quantize_activation(x), fake_quantize_weight(weight), bias)

    def integer_operators(self) -> tuple[str, ...]:
        return ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger")

    def quantize_onnx(self, source: Path, target: Path, int8_weights: Mapping[str, object],
                      calibration: Iterable | None = None) -> int:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        names = linear_nodes(onnx.load(str(source)), int8_weights, source)
        with quiet_quantizer():
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                             op_types_to_quantize=["MatMul", "Gemm"], nodes_to_quantize=list(names.values()),
                             extra_options={"MatMulConstBOnly": True})
        return len(names)


class _QuantizerHint(logging.Filter):
    """Drops the records ONNX Runtime's quantizers log straight on the root logger (a pre-processing hint at
    every call) and nothing else: only records made by code under onnxruntime/quantization/."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime/quantization/" not in record.pathname.replace("\\", "/")


@contextlib.contextmanager
def quiet_quantizer():
    """Mute ONNX Runtime's quantizer hints for the duration, without touching the root logger's level (a
    user's logging configuration stays as it is, and their own records pass)."""
    root, hint_filter = logging.getLogger(), _QuantizerHint()
    root.addFilter(hint_filter)
    try:
        yield
    finally:
        root.removeFilter(hint_filter)
