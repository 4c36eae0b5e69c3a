"""Export of the measured front: standalone ONNX files, checked, verified against torch on the test
split, each with a model card (JSON) that records what was measured and where."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from nas.evaluate import accuracy, predict_logits
from nas.onnx_export import check_onnx, export_onnx, onnxruntime_logits
from nas.run_folder import write_atomically

LOGIT_TOLERANCE = 1e-4  # max abs difference of logits, ONNX Runtime vs torch


def export_model(space: Any, supernet: Any, dataset: Any, entry: dict, folder: Path,
                 profile: Any) -> dict:
    """Export one front entry (trial dict with `latency_ms`) and return its model card."""
    config = space.canonical(entry["config"])
    network = supernet.extract(config)
    path = export_onnx(network, space.input_shape, Path(folder) / f"{entry['config_id']}.onnx")
    check_onnx(path)
    torch_logits = predict_logits(network, dataset.x_test)
    runtime_logits = onnxruntime_logits(path, dataset.x_test)
    torch_accuracy, runtime_accuracy = accuracy(torch_logits, dataset.y_test), accuracy(runtime_logits, dataset.y_test)
    difference = float(np.abs(torch_logits - runtime_logits).max())
    same_predictions = bool((torch_logits.argmax(1) == runtime_logits.argmax(1)).all())
    card = {
        "config_id": entry["config_id"],
        "space": {"name": space.name, "version": space.version, "arguments": space.arguments},
        "config": config,
        "val_accuracy": entry["val_accuracy"],
        "test_accuracy_torch": torch_accuracy,
        "test_accuracy_onnxruntime": runtime_accuracy,
        "max_abs_logit_difference": difference,
        "verified": difference <= LOGIT_TOLERANCE and same_predictions,
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
