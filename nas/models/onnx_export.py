"""Export of a static network to ONNX, and the checks every exported file goes through.

A network with int8 (or int4) layers is exported at fp32 first and then rewritten by its quantization
scheme (int4: one MatMulNBits node per layer), so the file ONNX Runtime loads runs integer kernels for
exactly those layers (`integer_kernels` and `nbits_kernels` count them in the runtime's optimized graph).
The float graph comes from an exporter of `nas.models.onnx_exporters` (`dynamo` by default;
`torchscript`, deprecated, on request).
"""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.batches import input_batches
from nas.errors import HwnasError
from nas.models.onnx_exporters import (DEFAULT_EXPORTER, DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME,  # noqa: F401
                                       create_exporter)


def export_onnx(network: Any, input_shape: tuple[int, ...], path: Path, opset: int = DEFAULT_OPSET,
                batch_size: int | None = None, dtype: Any = None, calibration: Any = None,
                exporter: str = DEFAULT_EXPORTER) -> Path:
    """Write `network` as ONNX through `exporter`, its int8 layers (if any) quantized as its scheme executes
    them; the same network gives the same bytes. The batch dimension is dynamic, or fixed at `batch_size`;
    the input is `dtype` (default float32). `calibration` (model inputs, numpy arrays) sets the static
    activation scales of schemes that have them (see `QuantizationScheme.quantize_onnx`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = create_exporter(exporter)
    writer.check_opset(opset)
    int8_weights = network.int8_weights() if hasattr(network, "int8_weights") else {}
    int4_weights = network.int4_weights() if hasattr(network, "int4_weights") else {}
    if not int8_weights and not int4_weights:
        return _export_float(writer, network, input_shape, path, opset, batch_size, dtype)
    from search_spaces.quantization import create_scheme, int4_blockwise

    with tempfile.TemporaryDirectory(prefix="hwnas-export-") as folder:
        current = _export_float(writer, network.as_fp32(), input_shape, Path(folder) / "fp32.onnx", opset,
                                batch_size, dtype)
        if int8_weights:  # int8 first: its quantizer rewrites only the nodes it is given, and knows no MatMulNBits
            target = path if not int4_weights else Path(folder) / "int8.onnx"
            try:
                create_scheme(network.int8_scheme).quantize_onnx(current, target, int8_weights,
                                                                 calibration=calibration)
            except (ValueError, RuntimeError) as error:  # e.g. an opset the quantizer cannot write
                raise HwnasError(f"int8 quantization of {path.name} at opset {opset} failed: "
                                 f"{str(error).strip().splitlines()[0][:200]}") from None
            current = target
        if int4_weights:
            int4_blockwise.quantize_onnx(current, path, int4_weights, network.int4_block_size)
    return path


def _export_float(writer: Any, network: Any, input_shape: tuple[int, ...], path: Path, opset: int,
                  batch_size: int | None, dtype: Any) -> Path:
    import torch

    network = network.eval()
    # A network over token ids declares `input_dtype = "int64"` (it stays integer in every format); other
    # inputs are float32, or `dtype` (float16 for an fp16 export).
    declared = getattr(network, "input_dtype", None)
    input_dtype = getattr(torch, declared) if declared not in (None, "float32") else (dtype or torch.float32)
    example = torch.zeros((batch_size or 1, *input_shape), dtype=input_dtype)
    return writer.write(network, example, path, opset, dynamic_batch=not batch_size)


def check_onnx(path: Path) -> None:
    """onnx.checker's full check (shape inference included); raises on an invalid model."""
    import onnx

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def session_graph(path: Path, level: str = "ORT_ENABLE_ALL") -> Any:
    """The ONNX model that ONNX Runtime's CPU provider builds from `path` at optimization `level` (a
    `GraphOptimizationLevel` name): the kernels that really run, with fusions and inserted Casts."""
    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="hwnas-optimized-") as folder:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def optimized_operators(path: Path) -> collections.Counter:
    """Operator types (and how many of each) in ONNX Runtime's fully optimized CPU graph of `path`, after
    fusions such as DynamicQuantizeLinear + MatMulInteger -> DynamicQuantizeMatMul."""
    return collections.Counter(node.op_type for node in session_graph(path).graph.node)


def integer_kernels(path: Path, scheme_name: str) -> int:
    """How many integer matrix-multiply kernels of `scheme_name` ONNX Runtime runs for `path`."""
    from search_spaces.quantization import create_scheme

    operators = optimized_operators(path)
    return sum(operators[name] for name in create_scheme(scheme_name).integer_operators())


def nbits_kernels(path: Path) -> int:
    """How many int4 weight kernels (MatMulNBits) ONNX Runtime runs for `path`."""
    from search_spaces.quantization.int4_blockwise import OPERATORS

    operators = optimized_operators(path)
    return sum(operators[name] for name in OPERATORS)


def onnxruntime_logits(path: Path, images: Any, batch_size: int = 256, dtype: Any = None) -> np.ndarray:
    """Logits of the ONNX file under ONNX Runtime's CPU provider on `images` (an array or a Dataset of
    samples), `batch_size` images per run (or the file's fixed batch size, the last batch padded with zeros),
    each batch cast to `dtype` when given."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    fixed = session.get_inputs()[0].shape[0]  # an int when the file has a fixed batch size
    batch_size = fixed if isinstance(fixed, int) else batch_size
    outputs = []
    for chunk in input_batches(images, batch_size):
        chunk = chunk if dtype is None else chunk.astype(dtype)
        feed = chunk
        if isinstance(fixed, int) and len(chunk) < fixed:
            feed = np.concatenate([chunk, np.zeros((fixed - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        outputs.append(session.run(None, {INPUT_NAME: feed})[0][: len(chunk)])
    return np.concatenate(outputs)


ONNX_ELEMENT_TYPES = {1: "float32", 10: "float16", 11: "float64"}


def operator_precisions(path: Path) -> dict[str, dict[str, int]]:
    """{"float16": {op: count}, "float32": {op: count}}: the float type each compute operator of ONNX
    Runtime's CPU graph (basic optimizations: kernels assigned, Casts inserted) reads. Where the CPU
    provider has no float16 kernel for an operator it inserts Casts and runs it in float32."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(session_graph(path, "ORT_ENABLE_BASIC")).graph
    types = {value.name: value.type.tensor_type.elem_type for value in [*graph.value_info, *graph.input]}
    types.update({tensor.name: tensor.data_type for tensor in graph.initializer})
    counts: dict[str, collections.Counter] = {"float16": collections.Counter(), "float32": collections.Counter()}
    for node in graph.node:
        kind = ONNX_ELEMENT_TYPES.get(types.get(node.input[0])) if node.input else None
        if node.op_type != "Cast" and kind in counts:
            counts[kind][node.op_type] += 1
    return {kind: dict(sorted(counter.items())) for kind, counter in counts.items()}
