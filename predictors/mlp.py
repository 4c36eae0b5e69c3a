"""`mlp`: a small neural network on the encoded features, predicting log latency.

Inputs are every column of the `NetworkEncoder` (config keys, analytic costs, per-slot layer costs,
priors), each passed through sign(x) * log(1 + |x|) (costs span orders of magnitude) and standardised.
The target is the standardised log latency, so the network's squared error is a relative error. The
weights are fitted by L-BFGS, which scikit-learn recommends for small data sets; the L2 penalty
`alpha` (0.1 by default) may be a list, chosen by cross-validation on the training rows. A different
family from the affine-plus-trees `gbdt`: `auto` and `ensemble` can use it where it does better.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.analytic_base import encode_training
from predictors.registry import register_predictor
from predictors.threads import one_thread
from predictors.validation import check_training_data

ALPHA_FOLDS = 4


def _signed_log(matrix: np.ndarray) -> np.ndarray:
    return np.sign(matrix) * np.log1p(np.abs(matrix))


@register_predictor("mlp")
class MLPLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) with a multi-layer perceptron on log-scaled features.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        hidden_layer_sizes: widths of the hidden layers.
        alpha: L2 penalty, or a list to choose from by cross-validation.
        max_iter: L-BFGS iterations.
        priors: a prior transformer (`predictors.priors`) or None.
        random_state: seed of the initial weights.

    Learned state: `encoder_`, `model_` (a Pipeline of StandardScaler and MLPRegressor), `alpha_`,
    `target_mean_`, `target_scale_`, `n_train_`.
    """

    def __init__(self, space: Any = None, hidden_layer_sizes: Sequence[int] = (64, 32),
                 alpha: float | Sequence[float] = 0.1, max_iter: int = 300, priors: Any = None,
                 random_state: int | None = 0) -> None:
        self.space = space
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.max_iter = max_iter
        self.priors = priors
        self.random_state = random_state

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "MLPLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        self.encoder_, matrix, _ = encode_training(self.space, self.priors, configs)
        inputs = _signed_log(matrix)
        log_targets = np.log(targets)
        self.target_mean_ = float(log_targets.mean())
        self.target_scale_ = float(log_targets.std()) or 1.0
        scaled = (log_targets - self.target_mean_) / self.target_scale_
        alphas = [float(self.alpha)] if np.isscalar(self.alpha) else [float(a) for a in self.alpha]
        self.alpha_ = alphas[0] if len(alphas) == 1 else self._choose_alpha(inputs, scaled, alphas)
        self.model_ = self._fitted_model(self.alpha_, inputs, scaled)
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config."""
        check_is_fitted(self, "model_")
        matrix = self.encoder_.transform(configs)
        if not len(matrix):
            return np.empty(0)
        return np.exp(self.model_.predict(_signed_log(matrix)) * self.target_scale_ + self.target_mean_)

    def _fitted_model(self, alpha: float, inputs: np.ndarray, targets: np.ndarray) -> Any:
        """A new network fitted on (inputs, targets); running out of iterations is not an error here."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), MLPRegressor(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes), alpha=alpha, solver="lbfgs", max_iter=self.max_iter,
            random_state=self.random_state))
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(inputs, targets)

    def _choose_alpha(self, inputs: np.ndarray, targets: np.ndarray, alphas: list[float]) -> float:
        """The alpha with the least absolute error of the (standardised) log latency over K folds."""
        from predictors.cross_validation import least_error_option

        def error_of(alpha: float, train: np.ndarray, held_out: np.ndarray) -> float:
            model = self._fitted_model(alpha, inputs[train], targets[train])
            return float(np.sum(np.abs(model.predict(inputs[held_out]) - targets[held_out])))

        return least_error_option(alphas, len(targets), ALPHA_FOLDS, error_of)
