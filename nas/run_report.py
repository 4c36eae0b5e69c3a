"""`hwnas report RUN`: what a person reads about a search, from its study.

Writes RUN/report/:
  trials.csv       every trial (every state): number, state, network, accuracy, latency, whether it was a
                   repeat, and what the guided sampler predicted for it before it was measured
  pareto.png       the measured networks, the measured Pareto front, and the networks the guided
                   sampler's predictors placed on the front without measuring them (drawn apart)
  hypervolume.png  hypervolume of the measured front after each evaluation
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import HwnasError
from nas.pareto import hypervolume, pareto_mask
from nas.report import write_csv
from nas.run_folder import RunFolder, write_atomically
from nas.search import load_run_study
from nas.study_attrs import PREDICTED_ATTR, PREDICTED_FRONT_ATTR


def trial_rows(study: Any) -> list[dict]:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = dict(trial.user_attrs)
        row = {"trial": trial.number, "state": trial.state.name, "config_id": attrs.pop("config_id", None),
               "val_accuracy": trial.values[0] if trial.values else None,
               "latency_ms": trial.values[1] if trial.values else None,
               "repeat": bool(attrs.pop("repeat", False))}
        predicted = trial.system_attrs.get(PREDICTED_ATTR, {})
        row.update({f"predicted_{key}": value for key, value in predicted.items()})
        config = json.loads(attrs.pop("config", "{}"))
        attrs.pop("heartbeat", None)
        row.update({key: json.dumps(value) if isinstance(value, (dict, list)) else value for key, value in attrs.items()})
        row.update(config)
        rows.append(row)
    return rows


def hypervolume_curve(rows: list[dict]) -> tuple[list[int], list[float], tuple[float, float]]:
    """(evaluations, hypervolume after each, reference): reference = the worst accuracy and latency measured."""
    measured = [r for r in rows if r["state"] == "COMPLETE" and not r["repeat"] and r["latency_ms"] is not None]
    if not measured:
        return [], [], (0.0, 0.0)
    accuracy = np.array([r["val_accuracy"] for r in measured])
    latency = np.array([r["latency_ms"] for r in measured])
    reference = (float(accuracy.min()), float(latency.max()))
    volumes = []
    for count in range(1, len(measured) + 1):
        mask = pareto_mask(accuracy[:count], latency[:count])
        volumes.append(hypervolume(accuracy[:count][mask], latency[:count][mask], reference))
    return list(range(1, len(measured) + 1)), volumes, reference


def write_report(run_path: str | Path, storage: str | None = None) -> dict[str, Path]:
    run = RunFolder(run_path)
    study = load_run_study(run, storage)
    rows = trial_rows(study)
    if not any(r["state"] == "COMPLETE" for r in rows):
        raise HwnasError(f"the study of {run.path} has no completed trial yet; run `hwnas search --run {run.path}`")
    folder = run.path / "report"
    written = {"trials": folder / "trials.csv", "pareto": folder / "pareto.png",
               "hypervolume": folder / "hypervolume.png"}
    write_csv(written["trials"], rows)
    predicted = study.user_attrs.get(PREDICTED_FRONT_ATTR, [])
    _plot_pareto(written["pareto"], rows, predicted, f"{run.path.name}: {study.user_attrs.get('space', '')}")
    _plot_hypervolume(written["hypervolume"], *hypervolume_curve(rows))
    return written


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(6.4, 4.4), dpi=120)


def _save(plt: Any, figure: Any, path: Path) -> None:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomically(path, buffer.getvalue())


def _plot_pareto(path: Path, rows: list[dict], predicted: list[dict], title: str) -> None:
    measured = [r for r in rows if r["state"] == "COMPLETE" and not r["repeat"]]
    ids = {r["config_id"] for r in measured}
    accuracy = np.array([r["val_accuracy"] for r in measured])
    latency = np.array([r["latency_ms"] for r in measured])
    mask = pareto_mask(accuracy, latency)
    order = np.argsort(latency[mask])
    plt, figure, axes = _figure()
    axes.scatter(latency, accuracy, s=16, color="0.6", label=f"measured ({len(measured)})")
    axes.plot(latency[mask][order], accuracy[mask][order], "o-", color="tab:red", label="Pareto front (measured)")
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
    _save(plt, figure, path)


def _plot_hypervolume(path: Path, evaluations: list[int], volumes: list[float], reference: tuple) -> None:
    plt, figure, axes = _figure()
    axes.plot(evaluations, volumes, color="tab:red")
    axes.set_xlabel("networks evaluated")
    axes.set_ylabel("hypervolume of the measured front")
    axes.set_title(f"reference: accuracy {reference[0]:.4g}, latency {reference[1]:.4g} ms (worst measured)",
                   fontsize=9)
    axes.grid(alpha=0.3)
    _save(plt, figure, path)
