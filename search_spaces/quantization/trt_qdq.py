"""The "trt-qdq" int8 scheme: explicit quantization with QuantizeLinear/DequantizeLinear (Q/DQ) nodes, as
TensorRT builds int8 engines from them (and as any runtime that honours Q/DQ does).

Weights: int8, symmetric, one scale per output channel, full range -127..127 (scale = max|w| / 127),
stored as int8 initializers followed by a DequantizeLinear.
Activations: int8, symmetric, ONE STATIC scale per tensor (scale = max|x| / 127), fixed in the file:
TensorRT has no run-time (dynamic) int8 quantization of activations. The scale is calibrated when the
file is written, from the inputs given as `calibration` (the maximum absolute value the layer's input
reaches over them); without calibration data, seeded random-normal inputs stand in, which is right for
timing (the scale does not change the speed) and wrong for accuracy, so export passes real data.

The fake quantization in torch takes the activation range from each sample itself. It is therefore the
runtime's arithmetic exactly when the calibrated scale equals the sample's own range (tested with a
one-sample calibration), and otherwise the static scale is coarser for samples with a smaller range: what
the search evaluates is per-sample-range int8, and export re-checks the deployed file's accuracy.
ONNX Runtime's CPU provider runs such a file too (it fuses DequantizeLinear + MatMul into
`MatMulIntegerToFloat`), but it is a faithful reference only on CPUs with an int8 dot product (VNNI, AMX):
on AVX2 alone its kernel adds pairs of products in saturating int16, which full-range weights overflow
(`exact_without_int8_dot_product` is False). The fake quantization is therefore checked against an exact
integer reference everywhere, and against ONNX Runtime only where its kernel is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from search_spaces.quantization.ort_dynamic import linear_nodes, quiet_quantizer
from search_spaces.quantization.scheme import QuantizationScheme, register_scheme

QMAX = 127  # symmetric int8: -127..127 for weights and activations
CALIBRATION_SAMPLES = 8  # random-normal stand-ins when no calibration data is given
CALIBRATION_SEED = 0


def _symmetric_fake_quantize(x, scale):
    """Round `x` to the int8 grid of step `scale` (clamped to -127..127), straight-through gradient."""
    import torch

    detached = x.detach()
    scale = torch.where(scale > torch.finfo(torch.float32).tiny, scale, torch.ones_like(scale))
    quantized = torch.clamp(torch.round(detached / scale), -QMAX, QMAX) * scale
    return x + (quantized - detached)


def fake_quantize_weight(weight):
    """Per-output-channel symmetric int8, full range."""
    # ONNX Runtime's quantizer: scale = (2 * absmax) / (2 * 127) in float64, stored as float32.
    absmax = weight.detach().abs().amax(dim=1, keepdim=True)
    return _symmetric_fake_quantize(weight, (2.0 * absmax.double() / (2 * QMAX)).float())


def fake_quantize_activation(x):
    """Per-sample symmetric int8 with the sample's own range (the leading dimension is the sample)."""
    detached = x.detach()
    shape = (detached.shape[0],) + (1,) * (detached.dim() - 1)
    absmax = detached.reshape(detached.shape[0], -1).abs().amax(dim=1).reshape(shape)
    return _symmetric_fake_quantize(x, (2.0 * absmax) / (2 * QMAX))  # float32, as the calibrator computes it


class _Inputs:
    """An onnxruntime CalibrationDataReader over a list of input arrays (one model input)."""

    def __init__(self, name: str, arrays: Iterable) -> None:
        self.name, self.arrays = name, iter(arrays)

    def get_next(self):
        array = next(self.arrays, None)
        return None if array is None else {self.name: array}


def _random_calibration(model) -> list:
    """Seeded random-normal batches of one sample, shaped like the model's (first) input."""
    import numpy as np

    dimensions = model.graph.input[0].type.tensor_type.shape.dim
    shape = [dimension.dim_value if dimension.dim_value > 0 else 1 for dimension in dimensions]
    generator = np.random.default_rng(CALIBRATION_SEED)
    return [generator.standard_normal(shape).astype(np.float32) for _ in range(CALIBRATION_SAMPLES)]


@register_scheme("trt-qdq")
class TensorRTQDQScheme(QuantizationScheme):
    description = ("explicit Q/DQ int8 as TensorRT runs it: int8 per-channel symmetric weights, int8 per-tensor "
                   "symmetric activations with static scales calibrated at export")
    weight_qmax = QMAX

    def fake_linear(self, x, weight, bias):
        import torch.nn.functional as F

        return F.linear(fake_quantize_activation(x), fake_quantize_weight(weight), bias)

    def integer_operators(self) -> tuple[str, ...]:
        return ("MatMulIntegerToFloat", "QLinearMatMul", "MatMulInteger")

    def quantize_onnx(self, source: Path, target: Path, int8_weights: Mapping[str, object],
                      calibration: Iterable | None = None) -> int:
        import onnx
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        model = onnx.load(str(source))
        names = linear_nodes(model, int8_weights, source)
        arrays = list(calibration) if calibration is not None else _random_calibration(model)
        with quiet_quantizer():
            quantize_static(
                str(source), str(target), _Inputs(model.graph.input[0].name, arrays),
                quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                per_channel=True, reduce_range=False, calibrate_method=CalibrationMethod.MinMax,
                op_types_to_quantize=["MatMul", "Gemm"], nodes_to_quantize=list(names.values()),
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                               # only the layer's input and weight: its float output feeds fp32 ops
                               "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm"]})
        return len(names)
