"""`ridge`: latency as an affine function of a few analytic costs, fitted for relative error.

The simplest useful latency model, and a strong one on CPU runtimes: work (MACs) plus per-layer and
per-head overheads. It has no notion of kernel-shape effects; the `gbdt` predictor adds those.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.encoder import ConfigEncoder
from predictors.registry import register_predictor
from predictors.relative_ridge import RelativeErrorRidge, analytic_columns
from predictors.validation import check_training_data


@register_predictor("ridge")
class RidgeLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) of configs of `space` from analytic costs.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        alpha: ridge penalty on the standardised features (small: the features are few and physical).
        features: cost-feature names to regress on; None uses `ANALYTIC_FEATURES` that the space reports.

    Learned state: `encoder_` (ConfigEncoder), `model_` (RelativeErrorRidge), `n_train_`.
    """

    def __init__(self, space: Any = None, alpha: float = 1e-3, features: Sequence[str] | None = None) -> None:
        self.space = space
        self.alpha = alpha
        self.features = features

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "RidgeLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        self.encoder_ = ConfigEncoder(self.space).fit(configs)
        matrix = self.encoder_.transform(configs)
        columns = analytic_columns(self.encoder_.feature_names_, self.features, self.encoder_.cost_names_,
                                   getattr(self.encoder_.space_, "analytic_features", None))
        self.model_ = RelativeErrorRidge(columns=columns, alpha=self.alpha).fit(matrix, targets)
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config."""
        check_is_fitted(self, "model_")
        matrix = self.encoder_.transform(configs)
        return self.model_.predict(matrix) if len(matrix) else np.empty(0)
