"""The ceiling of a benchmark column: what a search with the same budget could reach at best on it.

A sampler's hypervolume ratio on a public latency column mixes two things: how well it searches, and how
noisy the column is (a table's latencies of similar networks scatter; no sampler can know which of two
near-equal networks the table happens to time faster). The ceiling separates them. The *noise-aware
oracle* knows every accuracy exactly and each latency only up to the column's noise: its latency is a
predictor fitted on the whole column (the column's structure without its scatter). Given the same number
of evaluations as a search, it evaluates the networks of its own predicted front first, then the next
non-dominated layer, and so on; the evaluations return the table's real latencies, and its found front is
scored like any search's. A method is then reported as a share of its column's ceiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.search.benchmark_tables import BenchmarkTable
from nas.search.pareto import pareto_mask

ORACLE_MODEL = "gbdt"  # the predictor that smooths the column (fitted on all of it)


def smoothed_latency(table: BenchmarkTable, model: str = ORACLE_MODEL) -> np.ndarray:
    """The column's latencies as a predictor fitted on the whole column predicts them."""
    from predictors import create_predictor

    predictor = create_predictor(model, space=table.space)
    return np.asarray(predictor.fit(list(table.configs), table.latency).predict(list(table.configs)), float)


def oracle_order(table: BenchmarkTable, budget: int, latency: np.ndarray | None = None,
                 model: str = ORACLE_MODEL) -> list[tuple[str, float, float]]:
    """The oracle's `budget` evaluations, (config_id, accuracy, the table's latency), in the order it makes
    them: successive non-dominated layers of (exact accuracy, smoothed latency); from a layer larger than
    what is left of the budget, networks evenly spaced along it."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    predicted = smoothed_latency(table, model) if latency is None else np.asarray(latency, float)
    if predicted.shape != table.latency.shape:
        raise ValueError(f"{len(predicted)} smoothed latencies for a table of {len(table)} networks")
    remaining = np.arange(len(table))
    chosen: list[int] = []
    while len(chosen) < budget and remaining.size:
        mask = pareto_mask(table.accuracy[remaining], predicted[remaining])
        layer = remaining[mask][np.argsort(predicted[remaining[mask]], kind="stable")]
        room = budget - len(chosen)
        if layer.size > room:
            layer = layer[np.unique(np.round(np.linspace(0, layer.size - 1, room)).astype(int))]
        chosen.extend(int(index) for index in layer)
        remaining = remaining[~mask]
    return [(table.config_ids[i], float(table.accuracy[i]), float(table.latency[i])) for i in chosen]


def column_ceiling(table: BenchmarkTable, budgets: list[int], scorer: Any, model: str = ORACLE_MODEL) -> dict:
    """The oracle's score (a nas.search.benchmark.TableScore's, without the front) at each budget."""
    latency = smoothed_latency(table, model)
    return {str(budget): {key: value for key, value in scorer.score(oracle_order(table, budget, latency)).items()
                          if key != "front"} for budget in budgets}
