"""Export of the measured front: standalone ONNX files, checked, verified against torch on the test
split, each with a model card (JSON) that records what was measured and where."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from nas.evaluate import accuracy, evaluation_network, predict_logits
from nas.onnx_export import check_onnx, export_onnx, integer_kernels, onnxruntime_logits
from nas.run_folder import write_atomically

LOGIT_TOLERANCE = 1e-4  # fp32 models: max abs difference of logits, ONNX Runtime vs torch
# Models with int8 layers: a value on a rounding boundary may round the other way in the runtime (its
# float arithmetic differs in the last bit), so logits differ by up to ~1e-2; what must agree is the
# accuracy on the test split, within half a point.
ACCURACY_TOLERANCE = 0.005


def export_model(space: Any, supernet: Any, dataset: Any, entry: dict, folder: Path,
                 profile: Any) -> dict:
    """Export one front entry (trial dict with `latency_ms`) and return its model card."""
    config = space.canonical(entry["config"])
    network = evaluation_network(space, supernet, config, dataset.x_train)
    path = export_onnx(network, space.input_shape, Path(folder) / f"{entry['config_id']}.onnx")
    check_onnx(path)
    int8_layers = len(network.int8_weights()) if hasattr(network, "int8_weights") else 0
    torch_logits = predict_logits(network, dataset.x_test)
    # Dynamic int8 takes its activation range per call: one sample per call, as deployed at batch 1.
    runtime_logits = onnxruntime_logits(path, dataset.x_test, batch_size=1 if int8_layers else 256)
    torch_accuracy, runtime_accuracy = accuracy(torch_logits, dataset.y_test), accuracy(runtime_logits, dataset.y_test)
    difference = float(np.abs(torch_logits - runtime_logits).max())
    agreement = float((torch_logits.argmax(1) == runtime_logits.argmax(1)).mean())
    kernels = integer_kernels(path, network.int8_scheme) if int8_layers else 0
    if int8_layers:
        verified = abs(torch_accuracy - runtime_accuracy) <= ACCURACY_TOLERANCE and kernels == int8_layers
    else:
        verified = difference <= LOGIT_TOLERANCE and agreement == 1.0
    card = {
        "config_id": entry["config_id"],
        "space": {"name": space.name, "version": space.version, "arguments": space.arguments},
        "config": config,
        "val_accuracy": entry["val_accuracy"],
        "test_accuracy_torch": torch_accuracy,
        "test_accuracy_onnxruntime": runtime_accuracy,
        "max_abs_logit_difference": difference,
        "prediction_agreement": agreement,
        "int8_layers": int8_layers,
        "integer_kernels": kernels,  # in ONNX Runtime's optimized graph; must equal int8_layers
        "verified": bool(verified),
        "latency_ms": entry["latency_ms"],
        "latency_iqr_ms": entry.get("latency_iqr_ms"),
        "predicted_latency_ms": entry.get("predicted_latency_ms"),
        "hardware_profile": profile.name,
        "profile_fingerprint": profile.fingerprint(),
        "fingerprint_details": profile.fingerprint_details(),
        "parameters": int(sum(p.numel() for p in network.parameters())),
        "macs": float(space.cost_features(config).get("macs", float("nan"))),
        "file": path.name,
        "file_bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    write_atomically(Path(folder) / f"{entry['config_id']}.json", json.dumps(card, indent=2, sort_keys=True))
    return card
