"""Quality of a regression on held-out data: relative error, hit rates and rank correlation.

For a latency predictor used in a search, the ranking matters as much as the error: Kendall's tau
and Spearman's rho say whether the predictor orders networks as the hardware does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def regression_quality(y_true: Any, y_pred: Any) -> dict[str, float]:
    """`mape` (a fraction, not %), `within_5pct` / `within_10pct` (fraction of samples whose relative
    error |pred - true| / true is at most 0.05 / 0.10), `kendall_tau`, `spearman` and `n`.

    Correlations are NaN when they are undefined (fewer than two samples, or constant values); the error
    metrics are NaN with no samples.
    """
    true = np.asarray(y_true, dtype=np.float64).ravel()
    predicted = np.asarray(y_pred, dtype=np.float64).ravel()
    if true.shape != predicted.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {true.size} and {predicted.size}")
    count = int(true.size)
    if count == 0:
        relative = np.array([math.nan])
    else:
        if np.any(true <= 0):
            raise ValueError("y_true must be positive for relative errors (latencies, sizes, energies)")
        relative = np.abs(predicted - true) / true
    return {
        "mape": float(np.mean(relative)),
        "within_5pct": float(np.mean(relative <= 0.05)) if count else math.nan,
        "within_10pct": float(np.mean(relative <= 0.10)) if count else math.nan,
        "kendall_tau": _correlation("kendalltau", true, predicted),
        "spearman": _correlation("spearmanr", true, predicted),
        "n": count,
    }


def _correlation(name: str, true: np.ndarray, predicted: np.ndarray) -> float:
    if true.size < 2 or np.all(true == true[0]) or np.all(predicted == predicted[0]):
        return math.nan
    from scipy import stats

    return float(getattr(stats, name)(true, predicted)[0])
