"""`RelativeErrorRidge`: an affine model of a positive target that minimises *relative* error.

Latency on one runtime is close to affine in the work done (MACs) plus a per-layer and per-head
overhead, so a linear model on a few analytic costs extrapolates well to networks larger or smaller
than any measured. Weighting each sample by 1 / y**2 makes least squares minimise
sum(((prediction - y) / y) ** 2): the small networks' latencies count as much as the large ones'.

`loss="absolute"` minimises the mean *absolute* relative error instead (the MAPE), by iteratively
reweighted least squares: a measurement that a burst of load made 40% slow then pulls the fit as much
as one 1% off, not 1,600 times as much. `positive=True` keeps every coefficient >= 0 (a per-layer cost
table, where a negative cost per layer means nothing); its columns are scaled but not centred.
`alpha` may be a list: the value with the least cross-validated mean relative error on the training
rows is used (`alpha_`).

Works on an encoded feature matrix; `columns` picks the analytic columns. Predictions are floored at a
fraction of the smallest training target, so a far extrapolation can never give a latency <= 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

# The analytic costs that latency is (close to) affine in: the work, and the per-layer/per-head overheads.
ANALYTIC_FEATURES = ("macs", "linear_macs", "attention_macs", "num_blocks", "total_heads", "activation_elements")
PREDICTION_FLOOR_FRACTION = 0.1  # predictions never fall below this fraction of the smallest target seen
LOSSES = ("squared", "absolute")
REWEIGHTING_STEPS = 12  # of the absolute loss
RELATIVE_ERROR_FLOOR = 0.005  # residuals below 0.5% get the weight of 0.5% (keeps the reweighting finite)
ALPHA_FOLDS = 5


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
    """Ridge regression weighted for relative error, on `columns` of a matrix (all columns when None).

    Learned state: `columns_`, `alpha_`, `mean_` / `scale_` (of the columns), `coef_` (per scaled
    column; `coef_ / scale_` per unit of the column), `intercept_`, `floor_`.
    """

    def __init__(self, columns: Sequence[int] | None = None, alpha: float | Sequence[float] = 1e-3,
                 loss: str = "squared", positive: bool = False) -> None:
        self.columns = columns
        self.alpha = alpha
        self.loss = loss
        self.positive = positive

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # relative errors divide by the target
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray) -> "RelativeErrorRidge":
        if self.loss not in LOSSES:
            from predictors.errors import PredictorError

            raise PredictorError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if np.any(y <= 0):
            raise ValueError("RelativeErrorRidge needs targets > 0 (relative errors divide by them)")
        self.columns_ = list(range(X.shape[1])) if self.columns is None else list(self.columns)
        X = X[:, self.columns_]
        self.mean_ = np.zeros(X.shape[1]) if self.positive else X.mean(axis=0)
        scale = np.sqrt(np.mean((X - self.mean_) ** 2, axis=0))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (X - self.mean_) / self.scale_
        unit = float(np.mean(y))  # fitted on y / its mean: the penalty means the same in any unit
        alphas = [float(self.alpha)] if np.isscalar(self.alpha) else [float(a) for a in self.alpha]
        self.alpha_ = alphas[0] if len(alphas) == 1 else self._choose_alpha(Z, y / unit, alphas)
        coef, intercept = self._solve(Z, y / unit, self.alpha_)
        self.coef_, self.intercept_ = coef * unit, intercept * unit
        self.floor_ = PREDICTION_FLOOR_FRACTION * float(y.min())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Z = (X[:, self.columns_] - self.mean_) / self.scale_
        return np.maximum(Z @ self.coef_ + self.intercept_, self.floor_)

    def _solve(self, Z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
        """(coefficients, intercept) minimising the loss of the relative errors plus alpha * |coef|^2."""
        weight = 1.0 / y ** 2
        coef, intercept = _weighted_ridge(Z, y, weight, alpha, self.positive)
        if self.loss == "absolute":  # IRLS: weight each squared relative error by 1 / |relative error|
            for _ in range(REWEIGHTING_STEPS):
                relative = np.abs((Z @ coef + intercept) / y - 1.0)
                coef, intercept = _weighted_ridge(Z, y, weight / np.maximum(relative, RELATIVE_ERROR_FLOOR),
                                                  alpha, self.positive)
        return coef, intercept

    def _choose_alpha(self, Z: np.ndarray, y: np.ndarray, alphas: list[float]) -> float:
        """The alpha with the least mean relative absolute error over K folds of the rows."""
        from predictors.cross_validation import least_error_option

        def error_of(alpha: float, train: np.ndarray, held_out: np.ndarray) -> float:
            coef, intercept = self._solve(Z[train], y[train], alpha)
            predicted = np.maximum(Z[held_out] @ coef + intercept, PREDICTION_FLOOR_FRACTION * float(y[train].min()))
            return float(np.sum(np.abs(predicted / y[held_out] - 1.0)))

        return least_error_option(alphas, len(y), ALPHA_FOLDS, error_of)


def _weighted_ridge(Z: np.ndarray, y: np.ndarray, weight: np.ndarray, alpha: float,
                    positive: bool) -> tuple[np.ndarray, float]:
    """argmin sum(weight * (Z @ coef + intercept - y) ** 2) + alpha * |coef|^2, the intercept unpenalised;
    with `positive`, every coefficient (and the intercept) >= 0."""
    weight = weight / weight.mean()
    if positive:
        from scipy.optimize import nnls

        root = np.sqrt(weight)[:, None]
        design = np.vstack([np.hstack([root * Z, root]),
                            np.hstack([np.sqrt(alpha) * np.eye(Z.shape[1]), np.zeros((Z.shape[1], 1))])])
        solution, _ = nnls(design, np.concatenate([root[:, 0] * y, np.zeros(Z.shape[1])]), maxiter=50 * design.shape[1])
        return solution[:-1], float(solution[-1])
    mean_z = np.average(Z, axis=0, weights=weight)
    mean_y = float(np.average(y, weights=weight))
    centred = Z - mean_z
    gram = centred.T @ (weight[:, None] * centred) + alpha * np.eye(Z.shape[1])
    coef = np.linalg.solve(gram, centred.T @ (weight * (y - mean_y)))
    return coef, mean_y - float(mean_z @ coef)
