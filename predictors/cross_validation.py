"""Out-of-fold predictions: the held-out quality of a predictor measured on its own training rows.

`auto` chooses its model with them, and `fit_on_table` records them in a predictor fitted on every
row of a table, so that even such a predictor carries a held-out quality.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from predictors.metrics import regression_quality
from predictors.registry import create_predictor

MIN_FOLD_ROWS = 2  # fewer folds than asked when there are few rows


def fold_count(wanted: int, rows: int) -> int:
    """`wanted` folds, or fewer so that every fold holds at least MIN_FOLD_ROWS rows (< 2: no CV)."""
    return min(int(wanted), rows // MIN_FOLD_ROWS)


def out_of_fold_fits(name: str, configs: list, targets: np.ndarray, folds: int, seed: int | None,
                     **hyper_parameters: Any) -> Iterator[tuple[Any, np.ndarray]]:
    """(predictor `name` fitted without one fold, that fold's row indices), for each of `folds` shuffled folds."""
    from sklearn.model_selection import KFold

    for train, held_out in KFold(n_splits=folds, shuffle=True, random_state=seed).split(targets):
        yield create_predictor(name, **hyper_parameters).fit([configs[i] for i in train], targets[train]), held_out


def cross_validated_predictions(name: str, configs: list, targets: np.ndarray, folds: int, seed: int | None,
                                **hyper_parameters: Any) -> np.ndarray:
    """Out-of-fold predictions of predictor `name`: each row predicted by a fit without its fold."""
    predicted = np.empty(len(targets))
    for model, held_out in out_of_fold_fits(name, configs, targets, folds, seed, **hyper_parameters):
        predicted[held_out] = model.predict([configs[i] for i in held_out])
    return predicted


def cross_validated_quality(name: str, configs: list, targets: np.ndarray, folds: int = 5, seed: int | None = 0,
                            **hyper_parameters: Any) -> dict[str, float]:
    """`regression_quality` of the out-of-fold predictions (empty when there are too few rows)."""
    folds = fold_count(folds, len(targets))
    if folds < 2:
        return {}
    predicted = cross_validated_predictions(name, configs, targets, folds, seed, **hyper_parameters)
    return {**regression_quality(targets, predicted), "folds": folds}


def selection_score(quality: Mapping[str, float]) -> float:
    """What `auto` maximises: within_10pct + kendall_tau (NaN counts as 0)."""
    return float(np.nan_to_num(quality["within_10pct"]) + np.nan_to_num(quality["kendall_tau"]))


def least_error_option(options: Sequence[Any], rows: int, folds: int,
                       error_of: Callable[[Any, np.ndarray, np.ndarray], float]) -> Any:
    """The option (a penalty, say) whose `error_of(option, train_rows, held_out_rows)`, summed over
    `folds` shuffled folds of `rows` rows, is least; the first option when there are too few rows."""
    from sklearn.model_selection import KFold

    folds = min(folds, rows)
    if folds < 2 or len(options) < 2:
        return options[0]
    errors = np.zeros(len(options))
    for train, held_out in KFold(n_splits=folds, shuffle=True, random_state=0).split(np.arange(rows)):
        for index, option in enumerate(options):
            errors[index] += error_of(option, train, held_out)
    return options[int(np.argmin(errors))]

