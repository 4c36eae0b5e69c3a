"""Export of a static network to ONNX, and the checks every exported file goes through."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

INPUT_NAME, OUTPUT_NAME = "input", "logits"
DEFAULT_OPSET = 17


def export_onnx(network: Any, input_shape: tuple[int, ...], path: Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write `network` as ONNX with a dynamic batch dimension; the same network gives the same bytes."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    network = network.eval()
    example = torch.zeros((1, *input_shape), dtype=torch.float32)
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


def onnxruntime_logits(path: Path, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits of the ONNX file under ONNX Runtime's CPU provider."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {INPUT_NAME: images[start:start + batch_size]})[0]
                           for start in range(0, len(images), batch_size)])
