"""The ``elastic`` export format: one bundle (models/elastic.pt) of every exported network, each weight
stored once (nas.export.elastic), so a deployment picks a variant per latency budget at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.export.formats import ExportFormat, register_format

BUNDLE_NAME = "elastic.pt"  # the elastic bundle, beside the models it holds


def bundle_variants(cards: list[dict]) -> list[dict]:
    """One bundle variant per distinct network, fastest first, from the model cards (re-timed `onnx`)."""
    variants = {}
    for card in cards:
        variants.setdefault(card["config_id"], {
            "name": card["config_id"], "config_id": card["config_id"], "config": card["config"],
            "accuracy": card["test_accuracy_torch"], "val_accuracy": card["val_accuracy"],
            "latency_ms": card["latency_ms"], "latency_iqr_ms": card["latency_iqr_ms"],
            "hardware_profile": card["hardware_profile"], "profile_fingerprint": card["profile_fingerprint"],
            "parameters": card["parameters"], "onnx_sha256": card["sha256"],
            **({"size_mb": card["size_mb"]} if "size_mb" in card else {}),
            **({"latencies": card["latencies"]} if card.get("latencies") else {})})
    return sorted(variants.values(), key=lambda variant: variant["latency_ms"])


@register_format("elastic")
class ElasticBundleFormat(ExportFormat):
    """One bundle of all the exported networks (written after the per-model files, from their cards)."""

    per_model = False
    suffix = ".pt"
    description = "one bundle of all the networks (models/elastic.pt), each weight stored once"

    def write_bundle(self, folder: Path, space: Any, supernet: Any, cards: list[dict], networks: dict,
                     bundle_onnx: bool = False, deployment: dict | None = None,
                     profiles_skipped: dict | None = None) -> Path:
        """Write folder/elastic.pt from the model cards; `networks`: config_id -> the network as exported
        (BatchNorm recalibrated); `bundle_onnx`: also store each network's ONNX file in the bundle;
        `deployment`: the input's preprocessing, profile and version (nas.export.deployment);
        `profiles_skipped`: the `--profiles` that could not be timed here, with why."""
        from nas.export.elastic import write_bundle

        variants = bundle_variants(cards)
        onnx_files = {v["name"]: (folder / f"{v['name']}.onnx").read_bytes() for v in variants} if bundle_onnx else None
        exported = {v["name"]: networks[v["name"]] for v in variants}
        return write_bundle(folder / BUNDLE_NAME, space, supernet, variants, onnx_files, exported, deployment,
                            profiles_skipped)
