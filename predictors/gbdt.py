"""`gbdt`: an affine analytic model, corrected by gradient-boosted trees where the data shows structure.

Two stages, both fitted for relative error:

1. `base_`: latency affine in a few analytic costs (MACs, per-layer and per-head overheads), a
   `RelativeErrorRidge`. It extrapolates to networks larger or smaller than any measured, which trees
   alone cannot (a tree predicts a constant beyond the last split).
2. `model_`: gradient boosting (histogram-based) on log(latency / base prediction) with every encoded feature, for what
   is not affine: kernel-shape effects, a head count that a runtime handles badly, precision switches.

With `loss="absolute"` (the default) both stages minimise absolute errors (the affine stage the mean
relative error, the trees the mean absolute log error), so a few measurements that a burst of load
made much slower do not pull the predictions of every other network up. `priors` (other devices'
latencies, `predictors.priors`) join the affine stage's columns and the trees' features.

How many trees the residual stage gets is chosen by k-fold cross-validation on the training data
(`n_estimators` is the upper bound). Where the residual is measurement noise, as for small ViTs on a
CPU, the cross-validation picks few or no trees and the predictor is as good as the affine model;
where the residual has structure, the trees take it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.analytic_base import ALPHAS, encode_training
from predictors.registry import register_predictor
from predictors.relative_ridge import LOSSES, RelativeErrorRidge
from predictors.errors import PredictorError
from predictors.threads import one_thread
from predictors.validation import check_training_data


@register_predictor("gbdt")
class GradientBoostingLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) of configs of `space`: affine analytic model times boosted-tree correction.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        n_estimators: most trees in the residual stage (cross-validation picks how many are used).
        learning_rate, max_depth, min_samples_leaf: of the residual HistGradientBoostingRegressor.
        alpha: ridge penalty of the affine stage, or a list to choose from by cross-validation.
        features: cost-feature names of the affine stage; None uses the space's `analytic_features`.
        loss: "absolute" (robust to slow outliers) or "squared", of both stages.
        priors: a prior transformer (`predictors.priors`) or None.
        cv_folds: folds used to choose the number of trees; None or 0 uses `n_estimators` trees. With
            fewer than 2 * cv_folds training configs the residual stage is left out.
        random_state: seed of the folds and of the trees' subsampling.

    Learned state: `encoder_` (NetworkEncoder), `base_` (RelativeErrorRidge), `alpha_`, `model_`
    (HistGradientBoostingRegressor, or None when no trees are used), `n_estimators_` (trees used),
    `n_train_`.
    """

    def __init__(
        self,
        space: Any = None,
        n_estimators: int = 200,
        learning_rate: float = 0.1,
        max_depth: int = 3,
        min_samples_leaf: int = 5,
        alpha: float | Sequence[float] = ALPHAS,
        features: Sequence[str] | None = None,
        cv_folds: int | None = 5,
        random_state: int | None = 0,
        loss: str = "absolute",
        priors: Any = None,
    ) -> None:
        self.space = space
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.alpha = alpha
        self.features = features
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.loss = loss
        self.priors = priors

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "GradientBoostingLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        if self.loss not in LOSSES:
            raise PredictorError(f"gbdt: loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        self.encoder_, matrix, self.columns_ = encode_training(self.space, self.priors, configs, self.features)
        self.base_ = self._new_base(self.alpha).fit(matrix, targets)
        self.alpha_ = self.base_.alpha_
        with one_thread():
            self.n_estimators_ = self._choose_tree_count(matrix, targets)
            self.model_ = None
            if self.n_estimators_ > 0:
                residual = np.log(targets) - np.log(self.base_.predict(matrix))
                self.model_ = self._new_trees(self.n_estimators_).fit(matrix, residual)
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config."""
        check_is_fitted(self, "base_")
        matrix = self.encoder_.transform(configs)
        if not len(matrix):
            return np.empty(0)
        prediction = self.base_.predict(matrix)
        if self.model_ is not None:
            with one_thread():
                prediction = prediction * np.exp(self.model_.predict(matrix))
        return prediction

    # ------------------------------------------------------------------ stages
    def _new_base(self, alpha: Any) -> RelativeErrorRidge:
        return RelativeErrorRidge(columns=self.columns_, alpha=alpha, loss=self.loss)

    def _new_trees(self, count: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(loss=f"{self.loss}_error", max_iter=count,
                                             learning_rate=self.learning_rate, max_depth=self.max_depth,
                                             min_samples_leaf=self.min_samples_leaf, early_stopping=False,
                                             random_state=self.random_state)

    def _choose_tree_count(self, matrix: np.ndarray, targets: np.ndarray) -> int:
        """The tree count (0..n_estimators) with the least cross-validated log error (squared or absolute,
        as `loss` says)."""
        if not self.cv_folds:
            return int(self.n_estimators)
        if len(targets) < 2 * self.cv_folds or self.n_estimators <= 0:
            return 0
        from sklearn.model_selection import KFold

        power = 2 if self.loss == "squared" else 1
        errors = np.zeros(int(self.n_estimators) + 1)
        folds = KFold(n_splits=self.cv_folds, shuffle=True, random_state=self.random_state)
        for train, held_out in folds.split(matrix):
            base = self._new_base(self.alpha_).fit(matrix[train], targets[train])
            train_residual = np.log(targets[train]) - np.log(base.predict(matrix[train]))
            held_out_residual = np.log(targets[held_out]) - np.log(base.predict(matrix[held_out]))
            trees = self._new_trees(int(self.n_estimators)).fit(matrix[train], train_residual)
            errors[0] += np.sum(np.abs(held_out_residual) ** power)
            for count, correction in enumerate(trees.staged_predict(matrix[held_out]), start=1):
                errors[count] += np.sum(np.abs(held_out_residual - correction) ** power)
        return int(np.argmin(errors))
