"""The audit's plot: each audited network's test accuracy with the supernet's weights against its test
accuracy trained alone, with the diagonal (where the two agree); fine-tuned accuracies drawn beside."""

from __future__ import annotations

from typing import Any

from nas.report.plots import _new_figure


def audit_figure(rows: list[dict], title: str) -> Any:
    """Rows carry `standalone_test_accuracy`, `inherited_test_accuracy`, `on_front` and
    `finetuned_test_accuracy` (None where not fine-tuned); `standalone_sd_points`, where present and not None
    (several stand-alone trainings), is drawn as a horizontal error bar."""
    figure, axes = _new_figure()
    for on_front, style in ((False, {"color": "0.45", "label": "spread over the space"}),
                            (True, {"color": "tab:red", "label": "measured front"})):
        chosen = [row for row in rows if bool(row["on_front"]) == on_front]
        if chosen:
            axes.scatter([100 * row["standalone_test_accuracy"] for row in chosen],
                         [100 * row["inherited_test_accuracy"] for row in chosen], s=24, **style)
            spread = [row for row in chosen if row.get("standalone_sd_points") is not None]
            if spread:  # stand-alone trained several times: its mean, +- one standard deviation
                axes.errorbar([100 * row["standalone_test_accuracy"] for row in spread],
                              [100 * row["inherited_test_accuracy"] for row in spread],
                              xerr=[row["standalone_sd_points"] for row in spread], fmt="none",
                              ecolor=style["color"], elinewidth=1, alpha=0.6)
    tuned = [row for row in rows if row.get("finetuned_test_accuracy") is not None]
    if tuned:
        axes.scatter([100 * row["standalone_test_accuracy"] for row in tuned],
                     [100 * row["finetuned_test_accuracy"] for row in tuned], s=30, marker="D",
                     facecolors="none", edgecolors="tab:blue", label="fine-tuned from the inherited weights")
    values = [100 * row[key] for row in rows for key in ("standalone_test_accuracy", "inherited_test_accuracy",
                                                          "finetuned_test_accuracy") if row.get(key) is not None]
    low, high = min(values, default=0.0), max(values, default=100.0)
    margin = max(0.5, 0.05 * (high - low))
    axes.plot([low - margin, high + margin], [low - margin, high + margin], "--", color="0.6", linewidth=1,
              label="inherited = stand-alone")
    axes.set_xlabel("test accuracy trained alone (%)")
    axes.set_ylabel("test accuracy with the supernet's weights (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return figure
