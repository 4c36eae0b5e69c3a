"""Export of a static network to ONNX, and the checks every exported file goes through.

A network with int8 layers is exported at fp32 first and then rewritten by its quantization scheme, so
the file ONNX Runtime loads runs integer kernels for exactly those layers (`integer_kernels` counts them
in the runtime's optimized graph).
"""

from __future__ import annotations

import collections
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

INPUT_NAME, OUTPUT_NAME = "input", "logits"
DEFAULT_OPSET = 17


def export_onnx(network: Any, input_shape: tuple[int, ...], path: Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write `network` as ONNX with a dynamic batch dimension, its int8 layers (if any) quantized as its
    scheme executes them; the same network gives the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    int8_weights = network.int8_weights() if hasattr(network, "int8_weights") else {}
    if not int8_weights:
        return _export_fp32(network, input_shape, path, opset)
    from search_spaces.quantization import create_scheme

    with tempfile.TemporaryDirectory(prefix="hwnas-export-") as folder:
        fp32_path = _export_fp32(network.as_fp32(), input_shape, Path(folder) / "fp32.onnx", opset)
        create_scheme(network.int8_scheme).quantize_onnx(fp32_path, path, int8_weights)
    return path


def _export_fp32(network: Any, input_shape: tuple[int, ...], path: Path, opset: int) -> Path:
    import torch

    network = network.eval()
    # a network over token ids declares `input_dtype = "int64"`; images are float32
    example = torch.zeros((1, *input_shape), dtype=getattr(torch, getattr(network, "input_dtype", "float32")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return path


def check_onnx(path: Path) -> None:
    """onnx.checker's full check (shape inference included); raises on an invalid model."""
    import onnx

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def optimized_operators(path: Path) -> collections.Counter:
    """Operator types (and how many of each) in ONNX Runtime's fully optimized CPU graph of `path`: the
    kernels that really run, after fusions such as DynamicQuantizeLinear + MatMulInteger ->
    DynamicQuantizeMatMul."""
    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="hwnas-optimized-") as folder:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model = onnx.load(options.optimized_model_filepath)
    return collections.Counter(node.op_type for node in model.graph.node)


def integer_kernels(path: Path, scheme_name: str) -> int:
    """How many integer matrix-multiply kernels of `scheme_name` ONNX Runtime runs for `path`."""
    from search_spaces.quantization import create_scheme

    operators = optimized_operators(path)
    return sum(operators[name] for name in create_scheme(scheme_name).integer_operators())


def onnxruntime_logits(path: Path, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits of the ONNX file under ONNX Runtime's CPU provider."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {INPUT_NAME: images[start:start + batch_size]})[0]
                           for start in range(0, len(images), batch_size)])
