"""`ridge`: latency as an affine function of a few analytic costs (and priors), fitted for relative error.

The simplest useful latency model, and a strong one on CPU runtimes: work (MACs) plus per-layer and
per-head overheads. It has no notion of kernel-shape effects; the `gbdt` predictor adds those.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.analytic_base import ALPHAS, encode_training
from predictors.registry import register_predictor
from predictors.relative_ridge import RelativeErrorRidge
from predictors.validation import check_training_data


@register_predictor("ridge")
class RidgeLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) of configs of `space` from analytic costs.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        alpha: ridge penalty on the standardised features, or a list to choose from by cross-validation.
        features: cost-feature names to regress on; None uses the space's `analytic_features`.
        loss: "absolute" (mean relative error, robust to slow outliers) or "squared".
        priors: a prior transformer (`predictors.priors`) whose columns join the regression, or None.

    Learned state: `encoder_` (NetworkEncoder), `model_` (RelativeErrorRidge), `alpha_`, `n_train_`.
    """

    def __init__(self, space: Any = None, alpha: float | Sequence[float] = ALPHAS,
                 features: Sequence[str] | None = None, loss: str = "absolute", priors: Any = None) -> None:
        self.space = space
        self.alpha = alpha
        self.features = features
        self.loss = loss
        self.priors = priors

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "RidgeLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        self.encoder_, matrix, columns = encode_training(self.space, self.priors, configs, self.features,
                                                         layer_slots=False)
        self.model_ = RelativeErrorRidge(columns=columns, alpha=self.alpha, loss=self.loss).fit(matrix, targets)
        self.alpha_ = self.model_.alpha_
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config."""
        check_is_fitted(self, "model_")
        matrix = self.encoder_.transform(configs)
        return self.model_.predict(matrix) if len(matrix) else np.empty(0)
