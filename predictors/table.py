"""Predictors on published benchmark tables: read (config, latency) rows, and evaluate a predictor
fitted on a seeded sample of `train_size` rows against every other row."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from predictors.errors import PredictorError


def read_table(path: str | Path, space: Any, target: str) -> tuple[list[dict], np.ndarray]:
    """Configs (parsed by `space.config_from_row`) and the `target` column as floats > 0."""
    configs, values = read_columns(path, space, [target])
    return configs, values[:, 0]


def read_columns(path: str | Path, space: Any, names: list[str]) -> tuple[list[dict], np.ndarray]:
    """Configs and the named columns as an (rows, len(names)) matrix of floats > 0."""
    path = Path(path)
    columns, rows = _load(path)
    missing = [name for name in names if name not in columns]
    if missing:
        raise PredictorError(f"table '{path}' has no column {missing[0]!r}; columns: {', '.join(columns)}")
    _require_rows(rows, path)
    configs, values = [], np.empty((len(rows), len(names)))
    for index, row in enumerate(rows):
        line = index + 2
        configs.append(_config(space, row, path, line))
        for position, name in enumerate(names):
            try:
                value = float(row[name])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise PredictorError(f"table '{path}' line {line}: column {name!r} must be a number > 0, "
                                     f"got {row[name]!r}")
            values[index, position] = value
    return configs, values


def read_rows(path: str | Path, space: Any) -> tuple[list[str], list[dict], list[dict]]:
    """(column names, raw rows, configs) of a table, every row parsed by the space."""
    path = Path(path)
    columns, rows = _load(path)
    _require_rows(rows, path)
    return columns, rows, [_config(space, row, path, line) for line, row in enumerate(rows, start=2)]


def _load(path: Path) -> tuple[list[str], list[dict]]:
    """(column names, rows as dicts of strings)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except OSError as error:
        raise PredictorError(f"table '{path}': cannot read: {error}") from None
    except UnicodeDecodeError as error:
        raise PredictorError(f"table '{path}' is not UTF-8 text (byte {error.start}): give a CSV file") from None
    except csv.Error as error:
        raise PredictorError(f"table '{path}' is not a readable CSV: {error}") from None
    return columns, rows


def _require_rows(rows: list[dict], path: Path) -> None:
    if not rows:
        raise PredictorError(f"table '{path}' has no rows")


def _config(space: Any, row: dict, path: Path, line: int) -> dict:
    from search_spaces import ConfigError

    try:
        return space.config_from_row(row)
    except ConfigError as error:
        raise PredictorError(f"table '{path}' line {line}: {error}") from None


def fit_on_table(space: Any, configs: list[dict], targets: np.ndarray, model: str = "gbdt",
                 train_size: int | None = None, seed: int = 0, priors: Any = None,
                 cv_folds: int | None = None) -> tuple[Any, dict[str, Any]]:
    """A predictor fitted on `train_size` rows drawn with `seed`, and its metadata with the held-out
    quality on the other rows; or, without `train_size`, fitted on all rows, with the quality of a
    `cv_folds`-fold cross-validation on them (`cv_quality`). Either way the metadata holds the interval
    calibration ("interval", predictors.intervals), from cross-validation on the rows fitted on."""
    from predictors.held_out import fit_calibrated
    from predictors.metrics import regression_quality

    if train_size is not None:  # the predictor that was scored on the held-out rows is the one returned
        return _fit_and_score(space, configs, targets, train_size, seed, model, priors, cv_folds)
    predictor, calibration, predicted, fit_seconds = fit_calibrated(model, configs, targets, seed, cv_folds,
                                                                    space=space, priors=priors)
    cv_quality = {} if calibration is None else {**regression_quality(targets, predicted), "folds": calibration.folds}
    return predictor, {"n_train": len(configs), "seed": seed, "model": model, "fit_seconds": fit_seconds,
                       "cv_quality": cv_quality, "interval": None if calibration is None else calibration.to_json()}


def evaluate_on_table(space: Any, configs: list[dict], targets: np.ndarray, train_size: int, seed: int = 0,
                      model: str = "gbdt", priors: Any = None, cv_folds: int | None = None,
                      coverages: tuple[float, ...] = (0.8, 0.95)) -> dict[str, Any]:
    """Fit `model` on `train_size` rows drawn with `seed`; quality, and the coverage of intervals at
    `coverages`, on all the others."""
    return _fit_and_score(space, configs, targets, train_size, seed, model, priors, cv_folds, coverages)[1]


def split_rows(rows: int, train_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: `train_size` rows drawn with `seed`, and all the others."""
    if not 2 <= train_size < rows:
        raise PredictorError(f"train size must be between 2 and {rows - 1} (the table has {rows} rows), "
                             f"got {train_size}")
    order = np.random.default_rng(seed).permutation(rows)
    return order[:train_size], order[train_size:]


def _fit_and_score(space: Any, configs: list[dict], targets: np.ndarray, train_size: int, seed: int,
                   model: str, priors: Any = None, cv_folds: int | None = None,
                   coverages: tuple[float, ...] = (0.8, 0.95)) -> tuple[Any, dict[str, Any]]:
    """The predictor fitted on the drawn rows, and its metadata: held-out quality and interval coverage
    (the intervals calibrated by cross-validation on the training rows alone; "interval": the calibration)."""
    from predictors.held_out import fit_and_score

    train, test = split_rows(len(configs), train_size, seed)
    predictor, calibration, quality, fit_seconds = fit_and_score(
        model, [configs[i] for i in train], targets[train], [configs[i] for i in test], targets[test], seed, cv_folds,
        coverages, space=space, priors=priors)
    chosen = {"chosen_model": predictor.chosen_} if hasattr(predictor, "chosen_") else {}
    return predictor, {**quality, "n_train": int(train_size), "n_test": int(len(test)), "fit_seconds": fit_seconds,
                       "model": model, **chosen, "seed": seed,
                       "priors": list(getattr(priors, "columns", None) or getattr(priors, "names", None) or []),
                       "interval": None if calibration is None else calibration.to_json()}
