"""Export of searched networks: one file per requested format, each checked, verified against torch on
the test split and re-timed on the run's hardware profile, with a model card (JSON and markdown) that
records what was measured, where, and of which exact file (its SHA-256)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from nas.errors import HwnasError
from nas.models.evaluate import evaluation_network
from nas.export.deployment import annotate_onnx, model_metadata
from nas.export.formats import ExportFormat, ExportOptions
from nas.search.front import latency_differs
from nas.export.model_card import card_markdown
from nas.run_folder import fsync_file, replace_durably, write_atomically

def check_options(options: ExportOptions) -> None:
    """An unknown --exporter, or an --opset it does not write: one line, before anything is read."""
    from nas.models.onnx_exporters import EXPORTERS, create_exporter

    if options.exporter not in EXPORTERS:
        raise HwnasError(f"--exporter must be one of {', '.join(EXPORTERS.in_order())}, got {options.exporter!r}")
    create_exporter(options.exporter).check_opset(options.opset)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _latency(measurement: Any, profile: Any, fingerprint: str) -> dict:
    return {"latency_ms": measurement.median_ms, "latency_iqr_ms": measurement.iqr_ms, "latency_cv": measurement.cv,
            "latency_runs": measurement.count, "latency_noisy": measurement.noisy,
            "hardware_profile": profile.name, "profile_fingerprint": fingerprint}


def export_artifact(export_format: ExportFormat, space: Any, network_of: Callable[[dict], Any], dataset: Any,
                    config: dict, folder: Path, profiler: Any, options: ExportOptions,
                    deployment: dict | None = None) -> dict:
    """Write, check, verify and re-time one format of one network; the artifact's part of the card.
    `network_of(config)` is the evaluation network of a config (the formats only read it); `deployment`
    (nas.export.deployment.deployment_record) goes into an ONNX file's metadata_props."""
    artifact_config = export_format.config(space, config)
    network = network_of(artifact_config)
    config_id = space.config_id(config)
    path = Path(folder) / f"{config_id}{export_format.suffix}"
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:  # written aside and renamed: a crash never leaves half a file under the artifact's name
        export_format.write(network, tuple(space.input_shape), temporary, options)
        if deployment is not None and export_format.onnx_metadata:
            annotate_onnx(temporary, model_metadata(deployment, space, artifact_config))
        fsync_file(temporary)
        replace_durably(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    verification = export_format.verify(path, network, dataset)
    measurement, profile = export_format.measure(path, network, profiler, key=path.name)
    fingerprint = profiler.fingerprint if profile is profiler.profile else profile.fingerprint()
    artifact = {"file": path.name, "file_bytes": path.stat().st_size, "sha256": sha256_of(path),
                **verification, **_latency(measurement, profile, fingerprint)}
    if artifact_config != config:
        artifact.update(config=artifact_config, config_id=space.config_id(artifact_config))
    return artifact


def export_network(space: Any, supernet: Any, dataset: Any, entry: dict, folder: Path, profiler: Any,
                   formats: list[ExportFormat], skipped: dict[str, str], options: ExportOptions = ExportOptions(),
                   networks: dict[str, Any] | None = None, calibrating_supernet: Any = None,
                   deployment: dict | None = None) -> dict:
    """Export one searched network (a trial dict: config, config_id, val_accuracy, ...) in `formats`
    (`onnx` among them; those in `skipped` are recorded with the reason) and write its model card.
    Each evaluation network (extracted, BatchNorm recalibrated where the space has it) is built once and
    kept in `networks` (by config_id), which the caller may pass to reuse them. `calibrating_supernet` (a
    copy of the supernet on another device, e.g. CUDA) runs the recalibration there; the files are written
    from CPU copies. `deployment` (the input's preprocessing, the profile, the version) goes into every
    ONNX file and the card."""
    networks = {} if networks is None else networks

    def network_of(network_config: dict) -> Any:
        key = space.config_id(network_config)
        if key not in networks:
            source = supernet if calibrating_supernet is None else calibrating_supernet
            networks[key] = evaluation_network(space, source, network_config, dataset.x_train).cpu()
        return networks[key]

    config = space.canonical(entry["config"])
    config_id = space.config_id(config)
    artifacts = {}
    for export_format in formats:
        if export_format.name in skipped:
            artifacts[export_format.name] = {"skipped": skipped[export_format.name]}
        else:
            artifacts[export_format.name] = export_artifact(export_format, space, network_of, dataset, config, folder,
                                                            profiler, options, deployment)
    searched = artifacts["onnx"]
    network = network_of(config)
    card = {
        "config_id": config_id,
        "space": {"name": space.name, "version": space.version, "arguments": space.arguments},
        "config": config,
        "trial": entry.get("trial"),
        "val_accuracy": entry["val_accuracy"],
        # The `onnx` artifact (the network as searched), at the top level as before formats existed.
        "test_accuracy_torch": searched["test_accuracy_torch"],
        "test_accuracy_onnxruntime": searched["test_accuracy_runtime"],
        **{key: searched[key] for key in ("max_abs_logit_difference", "prediction_agreement", "int8_layers",
                                          "integer_kernels", "verified", "file", "file_bytes", "sha256")},
        **{key: searched[key] for key in ("int4_layers", "int4_kernels") if key in searched},
        "size_mb": searched["file_bytes"] / 1e6,  # the deployed file (nas.models.file_size computes it from the config)
        # Re-timed now: the median of the exact file above on the run's profile (not the stored one).
        **{key: searched[key] for key in ("latency_ms", "latency_iqr_ms", "latency_cv", "latency_runs",
                                          "latency_noisy", "hardware_profile", "profile_fingerprint")},
        "search_latency_ms": entry.get("latency_ms"),  # the measurement the search's front was built on
        # Whether the re-timing above is more than 10% away from it (None: no search measurement).
        "latency_differs_from_search": None if entry.get("latency_ms") is None
        else latency_differs(entry["latency_ms"], searched["latency_ms"]),
        "predicted_latency_ms": entry.get("predicted_latency_ms"),
        "fingerprint_details": profiler.profile.fingerprint_details(),
        "parameters": int(sum(p.numel() for p in network.parameters())),
        "macs": float(space.cost_features(config).get("macs", float("nan"))),
        "opset": options.opset,
        "onnx_exporter": options.exporter,
        "dynamic_batch": options.dynamic_batch,
        "artifacts": artifacts,
    }
    if deployment is not None:
        card.update(dataset=deployment["preprocessing"]["dataset"], preprocessing=deployment["preprocessing"],
                    hwnas_version=deployment["version"])
    write_atomically(Path(folder) / f"{config_id}.json", json.dumps(card, indent=2, sort_keys=True))
    write_atomically(Path(folder) / f"{config_id}.md", card_markdown(card))
    return card


def load_entries(path: Path, made_by: str) -> list[dict]:
    """The trial dicts of a JSON list file (front.json); a broken file raises a one-line error."""
    try:
        entries = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise HwnasError(f"{path} is not valid JSON ({error}); re-run `hwnas {made_by}`") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "config" in e for e in entries):
        raise HwnasError(f"{path} is not a list of trials with configs; re-run `hwnas {made_by}`")
    return entries
