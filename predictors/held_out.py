"""Fit a predictor with its interval calibration, and score both on held-out rows: the one path that
`hwnas fit` (a run's measurements) and `hwnas predictor fit | evaluate` (a table) take."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from predictors.intervals import (REPORTED_COVERAGES, Calibration, IntervalPredictor, cross_validated_calibration,
                                  default_calibration_folds, interval_quality)
from predictors.metrics import regression_quality
from predictors.registry import create_predictor


def fit_calibrated(model: str, configs: list, targets: np.ndarray, seed: int | None = 0, cv_folds: int | None = None,
                   **hyper_parameters: Any) -> tuple[Any, Calibration | None, np.ndarray | None, float]:
    """(predictor `model` fitted on every row, its interval calibration from `cv_folds`-fold cross-validation
    on the same rows, the out-of-fold predictions, seconds the fit took); calibration and predictions are
    None when the rows are too few for two folds. `cv_folds` None: `default_calibration_folds` for the rows."""
    started = time.perf_counter()
    predictor = create_predictor(model, **hyper_parameters).fit(configs, targets)
    fit_seconds = time.perf_counter() - started
    folds = default_calibration_folds(len(targets)) if cv_folds is None else cv_folds
    calibration, predicted = cross_validated_calibration(model, configs, targets, folds, seed, **hyper_parameters)
    return predictor, calibration, predicted, fit_seconds


def fit_and_score(model: str, train_configs: list, train_targets: np.ndarray, test_configs: Sequence,
                  test_targets: np.ndarray, seed: int | None = 0, cv_folds: int | None = None,
                  coverages: Sequence[float] = REPORTED_COVERAGES, **hyper_parameters: Any
                  ) -> tuple[Any, Calibration | None, dict[str, float], float]:
    """(predictor fitted on the training rows, its calibration, quality on the test rows, fit seconds): the
    errors and rank correlations of `regression_quality`, and, with a calibration, the coverage and width
    of the intervals at `coverages` (default 80% and 95%; `interval_quality`). Nothing about the test rows
    reaches the fit."""
    predictor, calibration, _, fit_seconds = fit_calibrated(model, train_configs, train_targets, seed, cv_folds,
                                                            **hyper_parameters)
    predicted = predictor.predict(list(test_configs))
    quality = regression_quality(test_targets, predicted)
    if calibration is not None:
        quality.update(interval_quality(IntervalPredictor(predictor, calibration), list(test_configs), test_targets,
                                        coverages, predicted))
    return predictor, calibration, quality, fit_seconds
