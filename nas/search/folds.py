"""Folds over devices: the protocol that keeps a change from being judged on the columns it was tuned on.

The public latency tables hold one column per device. A change to a sampler or a predictor is chosen on
the *training* folds and judged only on the *held-out* fold; results are reported per column (the worst
next to the median) and every comparison is paired by column and seed (docs/guide/evaluation.md).
The assignment is fixed: columns sorted by name, shuffled by a fixed seed, dealt round-robin into folds,
so everyone holds out the same columns.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

FOLD_SEED = 0  # fixed: the folds never change with anything a user sets


def device_folds(columns: Iterable[str], folds: int) -> list[list[str]]:
    """`columns` dealt into `folds` disjoint folds (each sorted), the same for the same column names."""
    names = sorted(set(columns))
    if not 2 <= folds <= len(names):
        raise ValueError(f"folds must be between 2 and the number of columns ({len(names)}), got {folds}")
    order = np.random.default_rng(FOLD_SEED).permutation(len(names))
    dealt: list[list[str]] = [[] for _ in range(folds)]
    for position, index in enumerate(order):
        dealt[position % folds].append(names[index])
    return [sorted(fold) for fold in dealt]


def split_columns(columns: Iterable[str], folds: int, held_out: int,
                  held_out_only: Iterable[str] = ()) -> dict[str, list[str]]:
    """{"training": ..., "held_out": ...}: fold `held_out` (0-based) against all the others.

    `held_out_only` columns (devices kept out of all development, e.g. the ones timed here:
    benchmarks/devices) join every held-out fold and no training fold; they are not dealt, so the
    folds of the other columns stay as they were."""
    extra = sorted(set(held_out_only))
    if not 0 <= held_out < folds:
        raise ValueError(f"held-out fold must be between 0 and {folds - 1}, got {held_out}")
    dealt_columns = [c for c in columns if c not in extra]
    if not dealt_columns and extra:  # only held-out-only columns asked for: nothing to deal
        return {"training": [], "held_out": extra}
    dealt = device_folds(dealt_columns, folds)
    return {"training": sorted(c for index, fold in enumerate(dealt) if index != held_out for c in fold),
            "held_out": dealt[held_out] + extra}


def paired_difference(results: Mapping[tuple[str, int], float], baseline: Mapping[tuple[str, int], float]) -> dict:
    """Differences `results - baseline` paired by (column, seed): mean with its standard error, median,
    and the worst column (its median over seeds), over the pairs both hold."""
    keys = sorted(set(results) & set(baseline))
    if not keys:
        return {"pairs": 0}
    differences = np.array([results[key] - baseline[key] for key in keys])
    by_column: dict[str, list[float]] = {}
    for key, difference in zip(keys, differences):
        by_column.setdefault(key[0], []).append(float(difference))
    column_medians = {column: float(np.median(values)) for column, values in by_column.items()}
    worst = min(column_medians, key=column_medians.get)
    standard_error = float(differences.std(ddof=1) / math.sqrt(len(differences))) if len(differences) > 1 else math.nan
    return {"pairs": len(keys), "mean": float(differences.mean()), "standard_error": standard_error,
            "median": float(np.median(differences)), "worst_column": worst,
            "worst_column_median": column_medians[worst]}


def latency_budgets(latencies: Sequence[float], percentiles: Sequence[float] = (25, 50, 75)) -> dict[str, float]:
    """The budgets a user would set: latency percentiles of the table's networks."""
    return {f"p{int(p)}": float(np.percentile(np.asarray(latencies, dtype=float), p)) for p in percentiles}
