"""`hwnas report RUN`: what a person reads about a search, from its study.

Writes RUN/report/:
  trials.csv       every trial (every state): number, state, network, accuracy, latency, whether it was a
                   repeat, and what the guided sampler predicted for it before it was measured (with the
                   latency's 90% interval: predicted_latency_low_ms, predicted_latency_high_ms)
  pareto.png       the measured networks, the measured Pareto front, and the networks the guided
                   sampler's predictors placed on the front without measuring them (drawn apart)
  hypervolume.png  hypervolume of the measured front after each evaluation
  predicted_latency.png  measured against predicted latency, with the intervals, for the networks whose
                   latency was predicted before it was measured (guided sampler only)
  drift.png        the reference network's latency over the run, relative to its baseline on the machine
                   (interleaved protocol only): when the machine was too busy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import HwnasError
from nas.search.pareto import hypervolume, pareto_mask
from nas.profiling.profiler import BUSY_SLOWDOWN
from nas.report.plots import drift_figure, hypervolume_figure, pareto_figure, prediction_figure, save_png
from nas.report.tables import write_csv
from nas.run_folder import RunFolder
from nas.search.driver import load_run_study
from nas.search.study_attrs import PREDICTED_ATTR, PREDICTED_FRONT_ATTR


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


def write_report(run_path: str | Path, storage: str | None = None) -> dict[str, Any]:
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
    measured = [r for r in rows if r["state"] == "COMPLETE" and not r["repeat"]]
    front = [r for r, on_front in zip(measured, pareto_mask(np.array([r["val_accuracy"] for r in measured]),
                                                             np.array([r["latency_ms"] for r in measured])))
             if on_front]
    save_png(pareto_figure(measured, front, f"{run.path.name}: {study.user_attrs.get('space', '')}", predicted),
             written["pareto"])
    save_png(hypervolume_figure(*hypervolume_curve(rows)), written["hypervolume"])
    predicted_then_measured = [r for r in measured if r.get("predicted_latency_ms") is not None
                               and r.get("latency_source") != "predicted"]  # a search on predictions measured none
    if predicted_then_measured:
        written["predicted_latency"] = folder / "predicted_latency.png"
        save_png(prediction_figure(predicted_then_measured), written["predicted_latency"])
    drift = drift_summary(run)
    if drift is not None:
        written["drift"] = folder / "drift.png"
        save_png(drift_figure(drift["log"], BUSY_SLOWDOWN), written["drift"])
        written["drift_summary"] = drift["summary"]
    return written


def drift_summary(run: RunFolder) -> dict | None:
    """The run's drift log (the reference timed beside every candidate) and a one-line summary, or None
    where the run has no measurements made with the interleaved protocol."""
    from hw_profiles import MeasurementStore

    if not run.measurements.is_file():
        return None
    with MeasurementStore(run.measurements) as store:
        log = store.reference_log()
    if not log:
        return None
    relative = np.array([row["reference_ms"] / row["baseline_ms"] for row in log])
    busy = float(np.mean(relative > 1 + BUSY_SLOWDOWN))
    summary = (f"{len(log)} timings beside the reference: median {np.median(relative):.2f}x its baseline, "
               f"{busy:.0%} of them on a busy machine (reference > {1 + BUSY_SLOWDOWN:.2f}x)"
               + ("; too busy for steady timings: the ratios hold, but consider a quieter machine"
                  if busy > 0.5 else ""))
    return {"log": log, "summary": summary}
