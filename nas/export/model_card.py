"""The short markdown model card written beside each model's JSON card (the JSON holds everything)."""

from __future__ import annotations

import json
from typing import Any

from nas.search.front import UNSTABLE_DIFFERENCE


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _milliseconds(value: Any) -> str:
    return "-" if value is None else f"{value:.4f} ms"


def card_markdown(card: dict) -> str:
    """A page for people: the config, every artifact's accuracy, latency, size and checksum."""
    space = card["space"]
    lines = [
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
    if card.get("audit"):
        lines += ["", audit_sentence(card["audit"])]
    lines += ["", "## Config", "", "```json", json.dumps(card["config"], indent=2), "```", ""]
    return "\n".join(lines)


def audit_sentence(audit: dict) -> str:
    """The model card's line from `hwnas audit`: this network trained alone against its supernet weights."""
    tau = audit.get("kendall_tau")
    return (f"Audit (`hwnas audit`): trained alone from scratch for {audit['standalone_epochs']} epochs, "
            f"{_percent(audit['standalone_test_accuracy'])} test accuracy against "
            f"{_percent(audit['inherited_test_accuracy'])} with the supernet's weights "
            f"({audit['gap_points']:+.2f} points); Kendall tau over the {audit['networks']} audited networks: "
            f"{'-' if tau is None else f'{tau:.3f}'}.")
