"""The plots of a run: the one Pareto plot (used by `hwnas search` and `hwnas report`), the hypervolume
curve, predicted against measured latency (with the predictions' intervals) and the machine's drift.
Figures are `matplotlib.figure.Figure` objects drawn off-screen: nothing switches the user's
matplotlib backend (a notebook keeps its own) and no pyplot state is touched."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from nas.run_folder import write_atomically


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    return figure, figure.add_subplot()


def save_png(figure: Any, path: Path) -> Path:
    """Write the figure as a PNG, atomically."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomically(Path(path), buffer.getvalue())
    return Path(path)


def pareto_figure(measured: list[dict], front: list[dict], title: str, predicted: Iterable[dict] = ()) -> Any:
    """Validation accuracy against measured latency: every measured network, the measured front (with a
    size objective, its points drawn with an area by file size), and the networks a sampler's predictors
    placed on the front without measuring them (drawn apart).
    Rows carry `latency_ms` and `val_accuracy`; predicted ones `latency_ms`, `accuracy` and `config_id`."""
    figure, axes = _new_figure()
    axes.scatter([m["latency_ms"] for m in measured], [m["val_accuracy"] for m in measured], s=16, color="0.6",
                 label=f"measured ({len(measured)})")
    front = sorted(front, key=lambda m: m["latency_ms"])
    if front and all("size_mb" in m for m in front):  # a front in three objectives: size as the marker's area
        largest = max(m["size_mb"] for m in front) or 1.0
        axes.scatter([m["latency_ms"] for m in front], [m["val_accuracy"] for m in front], color="tab:red",
                     s=[20 + 180 * m["size_mb"] / largest for m in front],
                     label=f"Pareto front in accuracy, latency, size (area: file MB, largest {largest:.3g})")
    else:
        axes.plot([m["latency_ms"] for m in front], [m["val_accuracy"] for m in front], "o-", color="tab:red",
                  label="Pareto front (measured)")
    ids = {m.get("config_id") for m in measured}
    unmeasured = [p for p in predicted if p.get("config_id") not in ids]
    if unmeasured:
        axes.scatter([p["latency_ms"] for p in unmeasured], [p["accuracy"] for p in unmeasured], s=30,
                     facecolors="none", edgecolors="tab:blue", marker="D",
                     label=f"predicted on the front, not measured ({len(unmeasured)})")
    axes.set_xlabel("latency (ms, measured median)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return figure


def prediction_figure(rows: list[dict]) -> Any:
    """Measured latency against the latency predicted before the measurement, one point per network, with
    its interval as a bar where one was recorded, and the diagonal. Rows carry `latency_ms` (measured),
    `predicted_latency_ms`, and optionally `predicted_latency_low_ms` / `predicted_latency_high_ms` and
    `predicted_latency_interval_coverage`."""
    figure, axes = _new_figure()
    predicted = np.array([r["predicted_latency_ms"] for r in rows], dtype=float)
    measured = np.array([r["latency_ms"] for r in rows], dtype=float)
    bounded = [r for r in rows if r.get("predicted_latency_low_ms") is not None
               and r.get("predicted_latency_high_ms") is not None]
    axes.scatter(predicted, measured, s=12, color="tab:blue", zorder=3, label=f"networks ({len(rows)})")
    if bounded:
        low = np.array([r["predicted_latency_low_ms"] for r in bounded], dtype=float)
        high = np.array([r["predicted_latency_high_ms"] for r in bounded], dtype=float)
        middle = np.array([r["predicted_latency_ms"] for r in bounded], dtype=float)
        truth = np.array([r["latency_ms"] for r in bounded], dtype=float)
        inside = (truth >= low) & (truth <= high)
        coverage = bounded[0].get("predicted_latency_interval_coverage")
        named = f"{coverage:.0%} " if isinstance(coverage, (int, float)) else ""
        axes.vlines(middle, low, high, color="tab:blue", alpha=0.35, linewidth=1,
                    label=f"{named}interval: {int(inside.sum())} of {len(bounded)} hold the measurement")
    span = np.concatenate([predicted, measured])
    axes.plot([span.min(), span.max()], [span.min(), span.max()], color="0.4", linewidth=1,
              label="measured = predicted")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("latency predicted before measuring (ms)")
    axes.set_ylabel("latency measured (ms)")
    axes.set_title("latency predictions and their intervals against the measurements", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    return figure


def hypervolume_figure(evaluations: list[int], volumes: list[float], reference: tuple) -> Any:
    """Hypervolume of the measured front after each evaluation."""
    figure, axes = _new_figure()
    axes.plot(evaluations, volumes, color="tab:red")
    axes.set_xlabel("networks evaluated")
    axes.set_ylabel("hypervolume of the measured front")
    axes.set_title(f"reference: accuracy {reference[0]:.4g}, latency {reference[1]:.4g} ms (worst measured)",
                   fontsize=9)
    axes.grid(alpha=0.3)
    return figure


def drift_figure(log: list[dict], busy_slowdown: float) -> Any:
    """The reference network's latency over a run, relative to its baseline on this machine: how busy the
    machine was while it measured (1.0 = as quiet as at calibration)."""
    figure, axes = _new_figure()
    relative = [row["reference_ms"] / row["baseline_ms"] for row in log]
    axes.plot(range(1, len(relative) + 1), relative, ".", color="tab:blue", markersize=4,
              label="reference / its baseline")
    axes.axhline(1.0, color="0.5", linewidth=1)
    axes.axhline(1.0 + busy_slowdown, color="tab:red", linewidth=1, linestyle="--",
                 label=f"busy (+{busy_slowdown:.0%})")
    axes.set_xlabel("timing (in the order made)")
    axes.set_ylabel("reference latency / baseline")
    axes.set_title("machine drift: the reference network timed beside every candidate", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    return figure
