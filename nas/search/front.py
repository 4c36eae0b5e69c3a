"""From the searched trials to a front of really measured networks.

Trials are ranked by non-domination on (accuracy, predicted latency); whole ranks are measured for
real until the front on *measured* latency holds at least `min_models` networks (or `max_measured`
networks were measured). Every latency reported afterwards is a measured one.

With a latency budget, a trial whose predicted latency carries an interval (`predicted_latency_low_ms`,
`predicted_latency_high_ms`: predictors.intervals) is screened by it (the straddle rule): an interval
wholly over the budget leaves the trial out unmeasured; one that straddles the budget, or lies under it,
keeps it, and it is measured before it can enter the front, which admits it only if its *measured*
latency meets the budget. A trial without an interval keeps the fixed margin: predicted within
PREDICTION_MARGIN times the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.search.pareto import non_dominated_ranks, pareto_mask


def measured_front(trials: list[dict], profiler: Any, latency_ms: float | None = None, min_models: int = 4,
                   max_measured: int = 40, progress: bool = True) -> tuple[list[dict], list[dict]]:
    """(front, all measured candidates): dicts of the trial plus `latency_ms` (measured median)."""
    unique: dict[str, dict] = {}
    for trial in trials:
        unique.setdefault(trial["config_id"], trial)
    candidates = list(unique.values())
    if latency_ms is not None:  # the predictor may err either way: its interval (or a margin) decides
        candidates = [{**t, "budget_side": budget_side(t, latency_ms)} for t in candidates]
        candidates = [t for t in candidates if t["budget_side"] != "over"]
    if not candidates:
        return [], []
    ranks = non_dominated_ranks(np.array([t["val_accuracy"] for t in candidates]),
                                np.array([t["predicted_latency_ms"] for t in candidates]))
    measured: list[dict] = []
    front: list[dict] = []
    for rank in range(int(ranks.max()) + 1):
        layer = [t for t, r in zip(candidates, ranks) if r == rank]
        layer = layer[: max(0, max_measured - len(measured))]
        for found in profiler.measure_all([t["config"] for t in layer], progress=progress,
                                          description=f"measuring front rank {rank}"):
            trial = next(t for t in layer if t["config_id"] == found.config_id)
            measured.append({**trial, "latency_ms": found.latency_ms, "latency_iqr_ms": found.measurement.iqr_ms,
                             "latency_cv": found.measurement.cv, "latency_noisy": found.measurement.noisy})
        feasible = [m for m in measured if latency_ms is None or m["latency_ms"] <= latency_ms]
        if feasible:
            mask = pareto_mask(np.array([m["val_accuracy"] for m in feasible]),
                               np.array([m["latency_ms"] for m in feasible]))
            front = sorted((m for m, keep in zip(feasible, mask) if keep), key=lambda m: m["latency_ms"])
        if len(front) >= min_models or len(measured) >= max_measured:
            break
    return front, measured


PREDICTION_MARGIN = 1.25  # without an interval, a trial predicted within this many budgets is measured


def budget_side(trial: dict, latency_ms: float) -> str:
    """Where a trial's predicted latency lies against a budget: "under" (interval wholly within it),
    "straddles" (the budget inside the interval), or "over" (interval wholly above it). A trial without a
    bounded interval is "straddles" when predicted within PREDICTION_MARGIN budgets, else "over"."""
    low, high = trial.get("predicted_latency_low_ms"), trial.get("predicted_latency_high_ms")
    if low is None or high is None or not np.isfinite(high):
        return "straddles" if trial["predicted_latency_ms"] <= PREDICTION_MARGIN * latency_ms else "over"
    if low > latency_ms:
        return "over"
    return "under" if high <= latency_ms else "straddles"


UNSTABLE_DIFFERENCE = 0.10  # a re-measurement this far (relative) from the first flags the latency as unstable


def latency_differs(first_ms: float, again_ms: float) -> bool:
    """Whether a second timing of the same network is more than UNSTABLE_DIFFERENCE (relative) away from
    the first: the machine's timings drifted between them (a busy neighbour, frequency scaling)."""
    return abs(again_ms - first_ms) / first_ms > UNSTABLE_DIFFERENCE


def front_of_trials(trials: list[dict], latency_ms: float | None = None, size_mb: float | None = None,
                    objectives: tuple[str, ...] = ("accuracy", "latency")) -> list[dict]:
    """The Pareto front of measured trials (one per network, within the budgets), fastest first; with the
    objective `size`, non-dominated in (accuracy, latency, size_mb)."""
    from nas.search.objectives import DIRECTIONS, pareto_mask_nd

    unique: dict[str, dict] = {}
    for trial in trials:
        unique.setdefault(trial["config_id"], trial)
    feasible = [t for t in unique.values() if (latency_ms is None or t["latency_ms"] <= latency_ms)
                and (size_mb is None or t["size_mb"] <= size_mb)]
    if not feasible:
        return []
    if "size" in objectives:
        columns = {"accuracy": "val_accuracy", "latency": "latency_ms", "size": "size_mb"}
        mask = pareto_mask_nd(np.array([[t[columns[name]] for name in objectives] for t in feasible]),
                              [DIRECTIONS[name] for name in objectives])
        return sorted((t for t, keep in zip(feasible, mask) if keep), key=lambda t: t["latency_ms"])
    mask = pareto_mask(np.array([t["val_accuracy"] for t in feasible]), np.array([t["latency_ms"] for t in feasible]))
    return sorted((t for t, keep in zip(feasible, mask) if keep), key=lambda t: t["latency_ms"])


def confirm_front(front: list[dict], profiler: Any, progress: bool = True) -> list[dict]:
    """Each front network timed once more (not stored): `remeasured_latency_ms`, and `latency_unstable`
    when the two medians differ by more than UNSTABLE_DIFFERENCE."""
    again = profiler.time_again([entry["config"] for entry in front], progress=progress,
                                description="re-measuring the front")
    confirmed = []
    for entry, measurement in zip(front, again):
        confirmed.append({**entry, "remeasured_latency_ms": measurement.median_ms,
                          "latency_unstable": latency_differs(entry["latency_ms"], measurement.median_ms)})
    return confirmed


def no_front_error(trials: list[dict], latency_ms: float | None, size_mb: float | None) -> Exception:
    """The one-line error when no searched network meets the budgets, naming the nearest miss."""
    from nas.errors import HwnasError

    if size_mb is not None and all(t.get("size_mb", 0) > size_mb for t in trials):
        smallest = min((t["size_mb"] for t in trials), default=float("nan"))
        return HwnasError(f"no searched network meets the size budget of {size_mb} MB; "
                          f"the smallest searched network's file is {smallest:.4f} MB")
    fastest = min((t["latency_ms"] for t in trials), default=float("nan"))
    return HwnasError(f"no searched network meets the latency budget of {latency_ms} ms"
                      + (f" and the size budget of {size_mb} MB" if size_mb is not None else "")
                      + f"; the fastest measured network takes {fastest:.4f} ms")
