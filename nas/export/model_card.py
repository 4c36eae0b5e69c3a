"""The short markdown model card written beside each model's JSON card (the JSON holds everything).

It opens with YAML front matter in the Hugging Face model-card style (library_name, tags, the data set, a
model-index whose metrics name their data set and split, and the hardware profile with its fingerprint),
so an export folder can be published as it is. PyYAML writes it (safe_dump, keys in the order given), so
one card gives the same text every time.
"""

from __future__ import annotations

import json
from typing import Any

from nas.search.front import UNSTABLE_DIFFERENCE


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _milliseconds(value: Any) -> str:
    return "-" if value is None else f"{value:.4f} ms"


TASKS = {"image": "image-classification", "text": "text-classification"}


def front_matter(card: dict) -> dict:
    """The card's YAML front matter as a dict (Hugging Face model-card metadata plus hwnas' own keys)."""
    preprocessing = card.get("preprocessing") or {}
    task = TASKS.get(preprocessing.get("kind"))
    dataset = card.get("dataset") or preprocessing.get("dataset") or "unknown"

    def result(value: Any, split: str, name: str) -> dict:
        return {**({"task": {"type": task}} if task else {}),
                "dataset": {"name": dataset, "type": dataset, "split": split},
                "metrics": [{"type": "accuracy", "value": None if value is None else float(value), "name": name}]}

    space = card["space"]
    return {
        "library_name": "hwnas",
        "tags": ["hwnas", "onnx", "neural-architecture-search", f"space-{space['name']}", *([task] if task else [])],
        "datasets": [dataset],
        "metrics": ["accuracy"],
        "model-index": [{"name": card["config_id"], "results": [
            result(card.get("test_accuracy_onnxruntime"), "test", "test accuracy (ONNX Runtime, this file)"),
            result(card.get("test_accuracy_torch"), "test", "test accuracy (torch)"),
            result(card.get("val_accuracy"), "validation", "validation accuracy (supernet weights, during the search)"),
        ]}],
        "hardware_profile": card["hardware_profile"],
        "profile_fingerprint": card["profile_fingerprint"],
        "latency_ms": card.get("latency_ms"),
        "file": card.get("file"),
        "sha256": card.get("sha256"),
        "hwnas_version": card.get("hwnas_version"),
        **({"vocabulary_sha256": preprocessing["vocabulary_sha256"]} if "vocabulary_sha256" in preprocessing else {}),
    }


def _preprocessing_lines(preprocessing: dict) -> list[str]:
    if not preprocessing:
        return []
    if preprocessing["kind"] == "image":
        steps = [f"{preprocessing['channels']} channel(s) ({preprocessing['channel_order']}), "
                 f"{preprocessing['image_size']}x{preprocessing['image_size']} pixels: {preprocessing['resize']}",
                 f"pixels: {preprocessing['pixel_rule']}",
                 f"normalised {preprocessing['normalise']} with mean {preprocessing['mean']} and std {preprocessing['std']}"]
    elif preprocessing.get("tokenizer"):
        steps = [f"tokens: {preprocessing['tokenizer']['rule']} (pattern `{preprocessing['tokenizer']['pattern']}`)",
                 f"ids from `{preprocessing['vocabulary_file']}` (SHA-256 `{preprocessing['vocabulary_sha256']}`), "
                 f"{preprocessing['unknown_id']} for an unknown word; {preprocessing['truncation']}, "
                 f"{preprocessing['padding']} ({preprocessing['pad_id']}) up to {preprocessing['max_length']}"]
    else:
        steps = [f"{preprocessing['tokens']}, {preprocessing['max_length']} per sample"]
    names = preprocessing.get("label_names")
    steps.append(f"labels: {', '.join(f'{index} = {name}' for index, name in enumerate(names))}" if names
                 else "labels: the class indices")
    return ["", "## Input", "", *[f"- {step}" for step in steps],
            "- `hwnas predict MODEL INPUT...` applies exactly this (it reads it from the file's metadata)"]


def card_markdown(card: dict) -> str:
    """A page for people: YAML front matter, the config, every artifact's accuracy, latency, size and
    checksum, and what its input needs."""
    import yaml

    space = card["space"]
    lines = [
        "---",
        yaml.safe_dump(front_matter(card), sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip(),
        "---",
        f"# Model {card['config_id']}",
        "",
        f"Space `{space['name']}` (version {space['version']}), trial {card.get('trial', '-')}; "
        f"{card['parameters']:,} parameters, {card['macs'] / 1e6:.2f} M multiply-accumulates.",
        f"Validation accuracy (supernet weights): {_percent(card['val_accuracy'])}.",
        f"Latency measured on `{card['hardware_profile']}` (fingerprint `{card['profile_fingerprint']}`), "
        f"median of {card['latency_runs']} runs of the exact file below: {_milliseconds(card['latency_ms'])} "
        f"(IQR {_milliseconds(card['latency_iqr_ms'])}); during the search: {_milliseconds(card['search_latency_ms'])}, "
        f"predicted {_milliseconds(card['predicted_latency_ms'])}."
        + (f" The two timings differ by more than {UNSTABLE_DIFFERENCE:.0%}: the machine's timings drifted in "
           "between; re-time it when the machine is quiet." if card.get("latency_differs_from_search") else ""),
        "",
        "| format | file | test acc. torch | test acc. runtime | max abs logit diff | verified | latency (median) "
        "| profile | KiB | sha256 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, artifact in card["artifacts"].items():
        if "skipped" in artifact:
            lines.append(f"| {name} | skipped: {artifact['skipped']} | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | `{artifact['file']}` | {_percent(artifact['test_accuracy_torch'])} "
            f"| {_percent(artifact['test_accuracy_runtime'])} | {artifact['max_abs_logit_difference']:.2e} "
            f"| {'yes' if artifact['verified'] else 'NO'} | {_milliseconds(artifact['latency_ms'])} "
            f"| {artifact['hardware_profile']} `{artifact['profile_fingerprint']}` | {artifact['file_bytes'] / 1024:.0f} "
            f"| `{artifact['sha256'][:16]}…` |")
    lines += _preprocessing_lines(card.get("preprocessing") or {})
    if card.get("audit"):
        lines += ["", audit_sentence(card["audit"])]
    lines += ["", "## Config", "", "```json", json.dumps(card["config"], indent=2), "```", ""]
    return "\n".join(lines)


def audit_sentence(audit: dict) -> str:
    """The model card's line from `hwnas audit`: this network trained alone against its supernet weights."""
    tau, spread = audit.get("kendall_tau"), audit.get("standalone_sd_points")
    over_seeds = "" if spread is None else f" (mean over seeds, sd {spread:.2f} points)"
    return (f"Audit (`hwnas audit`): trained alone from scratch for {audit['standalone_epochs']} epochs, "
            f"{_percent(audit['standalone_test_accuracy'])} test accuracy{over_seeds} against "
            f"{_percent(audit['inherited_test_accuracy'])} with the supernet's weights "
            f"({audit['gap_points']:+.2f} points); Kendall tau over the {audit['networks']} audited networks: "
            f"{'-' if tau is None else f'{tau:.3f}'}.")
