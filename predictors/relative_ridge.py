"""`RelativeErrorRidge`: an affine model of a positive target that minimises *relative* squared error.

Latency on one runtime is close to affine in the work done (MACs) plus a per-layer and per-head
overhead, so a linear model on a few analytic costs extrapolates well to networks larger or smaller
than any measured. Weighting each sample by 1 / y**2 makes least squares minimise
sum(((prediction - y) / y) ** 2): the small networks' latencies count as much as the large ones'.

Works on an encoded feature matrix; `columns` picks the analytic columns. Predictions are floored at a
fraction of the smallest training target, so a far extrapolation can never give a latency <= 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

# The analytic costs that latency is (close to) affine in: the work, and the per-layer/per-head overheads.
ANALYTIC_FEATURES = ("macs", "linear_macs", "attention_macs", "num_blocks", "total_heads", "activation_elements")
PREDICTION_FLOOR_FRACTION = 0.1  # predictions never fall below this fraction of the smallest target seen


def analytic_columns(feature_names: Sequence[str], wanted: Sequence[str] | None,
                     cost_names: Sequence[str], space_default: Sequence[str] | None = None) -> list[int]:
    """Indices of the `wanted` features that the encoder produces. Without `wanted`: the space's own
    choice (`space.analytic_features`) if it has one, else the ANALYTIC_FEATURES it reports; a space
    that reports none of those falls back to all its cost features.
    """
    if wanted is None and space_default is not None:
        wanted = [name for name in space_default if name in feature_names]
    names = list(feature_names)
    if wanted is not None:
        missing = [name for name in wanted if name not in names]
        if missing:
            from predictors.errors import PredictorError

            raise PredictorError(f"unknown feature(s) {missing}; available: {', '.join(names)}")
        return [names.index(name) for name in wanted]
    chosen = [name for name in ANALYTIC_FEATURES if name in names] or list(cost_names)
    return [names.index(name) for name in chosen]


class RelativeErrorRidge(RegressorMixin, BaseEstimator):
    """Ridge regression (standardised inputs) weighted by 1 / y**2, on `columns` of a matrix."""

    def __init__(self, columns: Sequence[int] | None = None, alpha: float = 1e-3) -> None:
        self.columns = columns
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray) -> "RelativeErrorRidge":
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self.columns_ = list(range(X.shape[1])) if self.columns is None else list(self.columns)
        self.model_ = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha))
        self.model_.fit(X[:, self.columns_], y, ridge__sample_weight=1.0 / y ** 2)
        self.floor_ = PREDICTION_FLOOR_FRACTION * float(y.min())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        return np.maximum(self.model_.predict(X[:, self.columns_]), self.floor_)
