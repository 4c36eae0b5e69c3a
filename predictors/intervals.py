"""Prediction intervals for every predictor: split-conformal on held-out residuals of log latency.

No predictor implements intervals itself. At fit time, `cross_validated_calibration` fits the named
predictor K times, each time without one fold of the training rows, and keeps the absolute log
residual |log y - log ŷ| of every row predicted by the fit that did not see it. An interval at coverage
c around a prediction ŷ is then ŷ·exp(±q), where q is the k-th smallest of the n residuals with
k = ceil((n + 1)·c), the finite-sample conformal quantile: if the rows a predictor will meet are
exchangeable with its training rows, the interval covers at least a share c of them (Vovk et al.;
Lei et al. 2018). With k > n (too few rows for that coverage) the interval is unbounded, (0, inf).

*Normalised* calibration (`scaled=True`) divides each residual by the predictor's own per-row relative
spread (`interval_scale(configs)`, which `ensemble` has: its members' disagreement added to their
out-of-bag noise) and multiplies q by it again at prediction time, so sure rows get narrow intervals and
unsure ones wide. It is used only where it measurably helps (docs/guide/predictors.md says where).

The calibration is plain data (`Calibration.to_json`), saved in the predictor file's JSON metadata under
"interval", never inside the estimator; `IntervalPredictor` joins a fitted predictor and its calibration
and offers `predict_interval(configs, coverage) -> (low_ms, high_ms)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from predictors.errors import PredictorError

METHOD = "split-conformal-log"
MAX_STORED = 1000  # order statistics kept in a file: beyond this many rows, every (count/1000)-th one
REPORTED_COVERAGES = (0.8, 0.95)  # what `hwnas fit` and `hwnas predictor evaluate` report on held-out rows
CALIBRATION_FOLDS = 5  # K of the cross-validation that calibrates an interval (see default_calibration_folds)


def check_coverage(value: Any, name: str = "coverage") -> float:
    """`value` as a float strictly between 0 and 1; a one-line PredictorError naming `name` otherwise."""
    try:
        coverage = float(value)
    except (TypeError, ValueError):
        coverage = math.nan
    if not 0.0 < coverage < 1.0:  # NaN fails too
        raise PredictorError(f"{name} must be a number strictly between 0 and 1 (e.g. 0.9), got {value!r}")
    return coverage


def conformal_rank(count: int, coverage: float) -> int:
    """k = ceil((count + 1) * coverage): the rank of the residual that bounds a `coverage` interval."""
    return int(math.ceil(round((count + 1) * coverage, 9)))  # round: 10 * 0.9 is 9.000000000000002


@dataclass(frozen=True)
class Calibration:
    """Held-out absolute log residuals of one predictor, sorted (divided by its spread when `scaled`).

    `residuals` are the order statistics of all `count` residuals (all of them up to MAX_STORED; beyond,
    the ones at MAX_STORED evenly spaced ranks, from which `half_width` takes the next rank up, so an
    interval is never narrower than the exact one)."""

    residuals: tuple[float, ...]
    count: int
    scaled: bool = False
    folds: int = 0

    @classmethod
    def from_residuals(cls, residuals: Any, scaled: bool = False, folds: int = 0) -> "Calibration":
        values = np.sort(np.abs(np.asarray(residuals, dtype=np.float64).ravel()))
        if not values.size or not np.all(np.isfinite(values)):
            raise PredictorError("a calibration needs at least one finite held-out residual")
        count = int(values.size)
        if count > MAX_STORED:
            values = values[_stored_ranks(count, MAX_STORED) - 1]
        return cls(tuple(float(value) for value in values), count, bool(scaled), int(folds))

    def half_width(self, coverage: float) -> float:
        """q: the log-space half-width of a `coverage` interval (times the row's scale when `scaled`);
        inf when `count` rows are too few for that coverage."""
        rank = conformal_rank(self.count, check_coverage(coverage))
        if rank > self.count:
            return math.inf
        if len(self.residuals) == self.count:
            return self.residuals[rank - 1]
        ranks = _stored_ranks(self.count, len(self.residuals))
        return self.residuals[int(np.searchsorted(ranks, rank))]  # the first stored rank >= rank

    def to_json(self) -> dict[str, Any]:
        return {"method": METHOD, "count": self.count, "scaled": self.scaled, "folds": self.folds,
                "residuals": list(self.residuals)}

    @classmethod
    def from_json(cls, value: Any, source: str) -> "Calibration":
        """The calibration saved by `to_json`, every field checked; one-line PredictorError naming `source`."""
        def refuse(what: str) -> PredictorError:
            return PredictorError(f"{source}: interval calibration {what}; refit the predictor")

        if not isinstance(value, Mapping) or value.get("method") != METHOD:
            raise refuse(f"must be an object with method {METHOD!r}")
        residuals, count = value.get("residuals"), value.get("count")
        if not isinstance(residuals, list) or not 1 <= len(residuals) <= MAX_STORED:
            raise refuse(f"'residuals' must be a list of 1 to {MAX_STORED} numbers")
        if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0
                   for r in residuals) or any(b < a for a, b in zip(residuals, residuals[1:])):
            raise refuse("'residuals' must be finite numbers >= 0 in increasing order")
        stored_all = isinstance(count, int) and count == len(residuals)
        subsampled = isinstance(count, int) and count > MAX_STORED and len(residuals) == MAX_STORED
        if isinstance(count, bool) or not (stored_all or subsampled):
            raise refuse(f"'count' must be the number of residuals (or more than {MAX_STORED} with "
                         f"{MAX_STORED} stored), got {count!r}")
        scaled, folds = value.get("scaled"), value.get("folds")
        if not isinstance(scaled, bool) or isinstance(folds, bool) or not isinstance(folds, int) or folds < 0:
            raise refuse("'scaled' must be true or false and 'folds' an integer >= 0")
        return cls(tuple(float(r) for r in residuals), count, scaled, folds)


def _stored_ranks(count: int, stored: int) -> np.ndarray:
    """The 1-based ranks kept when `stored` of `count` order statistics are kept (first and last included)."""
    return np.round(np.linspace(1, count, stored)).astype(np.int64)


class IntervalPredictor:
    """A fitted predictor and its calibration: `predict` as the predictor's, plus `predict_interval`."""

    def __init__(self, predictor: Any, calibration: Calibration) -> None:
        if calibration.scaled and not hasattr(predictor, "interval_scale"):
            raise PredictorError(f"a scaled calibration needs a predictor with interval_scale(configs); "
                                 f"{type(predictor).__name__} has none")
        self.predictor, self.calibration = predictor, calibration

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.asarray(self.predictor.predict(configs), dtype=np.float64)

    def predict_interval(self, configs: Sequence[Mapping[str, Any]], coverage: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray]:
        """(low_ms, high_ms), one each per config: the prediction times exp(-q) and exp(+q) (q times the
        row's scale when the calibration is scaled); (0, inf) where too few rows back that coverage."""
        predicted = self.predict(configs)
        return self.around(predicted, coverage, self.scale(configs) if self.calibration.scaled else None)

    def scale(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The predictor's per-row relative spread (`interval_scale`), which a scaled calibration needs."""
        if not len(configs):
            return np.empty(0)
        return np.asarray(self.predictor.interval_scale(configs), dtype=np.float64)

    def around(self, predicted: np.ndarray, coverage: float, scale: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(low_ms, high_ms) around predictions already made (`scale`: their rows' `scale`, when scaled)."""
        half_width = np.full(np.shape(predicted), self.calibration.half_width(coverage))
        if self.calibration.scaled:
            half_width = half_width * scale
        with np.errstate(over="ignore", invalid="ignore"):  # an unbounded interval is (0, inf)
            return predicted * np.exp(-half_width), predicted * np.exp(half_width)


def with_intervals(predictor: Any, metadata: Mapping[str, Any], source: str) -> IntervalPredictor:
    """The predictor of a loaded file joined with the calibration saved in its metadata ("interval");
    a file saved before intervals existed, or without enough rows for one, is refused in one line."""
    if metadata.get("interval") is None:
        raise PredictorError(f"{source} holds no interval calibration (saved before intervals existed, or "
                             f"fitted on too few rows for cross-validation); refit it to get intervals")
    return IntervalPredictor(predictor, Calibration.from_json(metadata["interval"], source))


def default_calibration_folds(rows: int) -> int:
    """K for a calibration on `rows` rows: CALIBRATION_FOLDS whatever the rows (`fold_count` lowers it where
    the rows are too few). 20 folds at 100 rows, tried to bring the fold models closer to the final model,
    did not bring the 90% interval's coverage closer to 90% (benchmarks/predictors/README.md)."""
    return CALIBRATION_FOLDS


def cross_validated_calibration(name: str, configs: list, targets: np.ndarray, folds: int = 5, seed: int | None = 0,
                                scaled: bool = False, **hyper_parameters: Any
                                ) -> tuple[Calibration | None, np.ndarray | None]:
    """(calibration, out-of-fold predictions) of predictor `name` on these rows, from `folds`-fold
    cross-validation (fewer folds with few rows); (None, None) when the rows are too few for two folds."""
    from predictors.cross_validation import fold_count, out_of_fold_fits

    folds = fold_count(folds, len(targets))
    if folds < 2:
        return None, None
    predicted, scale = np.empty(len(targets)), np.ones(len(targets))
    for model, held_out in out_of_fold_fits(name, configs, targets, folds, seed, **hyper_parameters):
        rows = [configs[i] for i in held_out]
        predicted[held_out] = model.predict(rows)
        if scaled:
            scale[held_out] = model.interval_scale(rows)
    residuals = np.abs(np.log(targets) - np.log(predicted)) / scale
    return Calibration.from_residuals(residuals, scaled=scaled, folds=folds), predicted


def interval_quality(predictor: IntervalPredictor, configs: Sequence[Mapping[str, Any]], targets: Any,
                     coverages: Sequence[float] = REPORTED_COVERAGES, predicted: Any = None) -> dict[str, float]:
    """Per coverage c (as a percentage P): `interval_coverage_P`, the share of `targets` inside their
    interval, and `interval_width_P`, the median of (high - low) / prediction; NaN with no rows.
    `predicted`: the predictions of `configs`, if already made."""
    targets = np.asarray(targets, dtype=np.float64).ravel()
    predicted = predictor.predict(configs) if predicted is None else np.asarray(predicted, dtype=np.float64)
    scale = predictor.scale(configs) if predictor.calibration.scaled else None
    quality: dict[str, float] = {}
    for coverage in coverages:
        low, high = predictor.around(predicted, coverage, scale)
        percent = f"{round(coverage * 100):d}"
        inside = (targets >= low) & (targets <= high)
        quality[f"interval_coverage_{percent}"] = float(np.mean(inside)) if targets.size else math.nan
        quality[f"interval_width_{percent}"] = (float(np.median((high - low) / predicted)) if targets.size
                                                else math.nan)
    return quality


def describe_interval_quality(quality: Mapping[str, float]) -> str:
    """'80% interval covers 81.2%, 95% interval covers 94.0%' from `interval_quality`'s keys."""
    parts = [f"{key.rsplit('_', 1)[1]}% interval covers {value:.1%}" for key, value in quality.items()
             if key.startswith("interval_coverage_")]
    return ", ".join(parts)
