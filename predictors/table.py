"""Predictors on published benchmark tables: read (config, latency) rows, and evaluate a predictor
fitted on a seeded sample of `train_size` rows against every other row."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from predictors.errors import PredictorError


def read_table(path: str | Path, space: Any, target: str) -> tuple[list[dict], np.ndarray]:
    """Configs (parsed by `space.config_from_row`) and the `target` column as floats > 0."""
    path = Path(path)
    columns, rows = _load(path)
    if target not in columns:
        raise PredictorError(f"table '{path}' has no column {target!r}; columns: {', '.join(columns)}")
    _require_rows(rows, path)
    configs, values = [], []
    for line, row in enumerate(rows, start=2):
        configs.append(_config(space, row, path, line))
        try:
            value = float(row[target])
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise PredictorError(f"table '{path}' line {line}: column {target!r} must be a number > 0, "
                                 f"got {row[target]!r}")
        values.append(value)
    return configs, np.asarray(values)


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
                 train_size: int | None = None, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """A predictor fitted on `train_size` rows drawn with `seed` (all rows when None), and its metadata:
    the held-out quality on the other rows when some were held out."""
    from predictors.registry import create_predictor

    if train_size is not None:  # the predictor that was scored on the held-out rows is the one returned
        return _fit_and_score(space, configs, targets, train_size, seed, model)
    return create_predictor(model, space=space).fit(configs, targets), {"n_train": len(configs), "seed": seed}


def evaluate_on_table(space: Any, configs: list[dict], targets: np.ndarray, train_size: int, seed: int = 0,
                      model: str = "gbdt") -> dict[str, Any]:
    """Fit `model` on `train_size` rows drawn with `seed`; quality on all the other rows."""
    return _fit_and_score(space, configs, targets, train_size, seed, model)[1]


def _fit_and_score(space: Any, configs: list[dict], targets: np.ndarray, train_size: int, seed: int,
                   model: str) -> tuple[Any, dict[str, Any]]:
    from predictors.metrics import regression_quality
    from predictors.registry import create_predictor

    if not 2 <= train_size < len(configs):
        raise PredictorError(f"train size must be between 2 and {len(configs) - 1} (the table has "
                             f"{len(configs)} rows), got {train_size}")
    order = np.random.default_rng(seed).permutation(len(configs))
    train, test = order[:train_size], order[train_size:]
    started = time.perf_counter()
    predictor = create_predictor(model, space=space).fit([configs[i] for i in train], targets[train])
    fit_seconds = time.perf_counter() - started
    quality = regression_quality(targets[test], predictor.predict([configs[i] for i in test]))
    return predictor, {**quality, "n_train": int(train_size), "n_test": int(len(test)), "fit_seconds": fit_seconds,
                       "model": model, "seed": seed}
