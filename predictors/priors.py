"""Priors for a new device: what other devices (or other predictors) say about the same networks.

Latencies of one network on two devices are strongly related (a network that is slow on one GPU is
slow on another), so a predictor for a new device fitted on 10-50 measurements does much better when
it sees the other devices' latencies as features. A prior is a scikit-learn transformer from configs
to an (n, k) matrix of positive values, one column per source, named ``prior:<source>``; every
predictor takes one as its `priors` hyper-parameter and appends its columns to the encoded features.

* `TablePrior`: values of other columns of a table, looked up by config (`read_prior_table` reads one
  from a CSV); a config that the table does not hold is an error naming it.
* `PredictorPrior`: the predictions of other fitted predictors (loaded from their files, say), so a
  prior exists for every config of the space, also those never measured anywhere.

The prior travels inside the fitted predictor (a `TablePrior` holds its values), so a saved
predictor predicts without the table file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from predictors.encoder import as_config_list
from predictors.encoding_cache import memoised
from predictors.errors import PredictorError
from predictors.space_argument import resolve_space


class MissingPriorError(PredictorError):
    """A config that the prior table does not hold; `position` is its index in the configs given."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class TablePrior(TransformerMixin, BaseEstimator):
    """Values of `columns` for the configs whose ids are `config_ids` (row i of `values` is config i).

    Hyper-parameters:
        space: the SearchSpace (or its name) whose config ids key the table.
        config_ids: `space.config_id` of each row.
        values: (rows, len(columns)) positive values, such as latencies in ms on other devices.
        columns: the sources' names (feature names become ``prior:<column>``).
        source: where the values come from, for error messages (a file name).

    Learned state: `index_` (config id -> row), `space_`.
    """

    def __init__(self, space: Any = None, config_ids: Sequence[str] = (), values: Any = None,
                 columns: Sequence[str] = (), source: str = "prior table") -> None:
        self.space = space
        self.config_ids = config_ids
        self.values = values
        self.columns = columns
        self.source = source

    def fit(self, configs: Any = None, y: Any = None) -> "TablePrior":
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2 or values.shape != (len(self.config_ids), len(self.columns)):
            raise PredictorError(f"{self.source}: values must be a ({len(self.config_ids)}, {len(self.columns)}) "
                                 f"matrix (one row per config, one column per source), got shape {values.shape}")
        if not len(self.columns):
            raise PredictorError(f"{self.source}: name at least one prior column")
        if not np.all(np.isfinite(values) & (values > 0)):
            raise PredictorError(f"{self.source}: prior values must be finite and positive")
        self.space_ = resolve_space(self.space, type(self).__name__)
        self.index_ = {config_id: row for row, config_id in enumerate(self.config_ids)}
        self.values_ = values
        return self

    def transform(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        check_is_fitted(self, "index_")
        configs = as_config_list(configs)
        config_ids = [memoised(("config_id", self.space_.key), config, self.space_.config_id) for config in configs]
        rows = [self.index_.get(config_id, -1) for config_id in config_ids]
        if -1 in rows:
            position = rows.index(-1)
            raise MissingPriorError(f"config {config_ids[position]} (configs[{position}]) is not in {self.source}; "
                                    f"a prior table must hold every config to be fitted or predicted", position)
        return self.values_[rows] if rows else np.empty((0, len(self.columns)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"prior:{column}" for column in self.columns], dtype=object)


class PredictorPrior(TransformerMixin, BaseEstimator):
    """The predictions (ms) of already fitted `predictors`, named by `names`; `fit` learns nothing."""

    def __init__(self, predictors: Sequence[Any] = (), names: Sequence[str] = ()) -> None:
        self.predictors = predictors
        self.names = names

    def fit(self, configs: Any = None, y: Any = None) -> "PredictorPrior":
        if not len(self.predictors) or len(self.predictors) != len(self.names):
            raise PredictorError(f"PredictorPrior needs one name per predictor, got {len(self.predictors)} "
                                 f"predictor(s) and {len(self.names)} name(s)")
        self.fitted_ = True
        return self

    def transform(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        check_is_fitted(self, "fitted_")
        configs = as_config_list(configs)
        if not configs:
            return np.empty((0, len(self.predictors)))
        return np.column_stack([np.asarray(predictor.predict(configs), dtype=np.float64)
                                for predictor in self.predictors])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"prior:{name}" for name in self.names], dtype=object)

    def __sklearn_clone__(self) -> "PredictorPrior":
        return self  # the wrapped predictors are fitted: a clone must keep them, not refit them


def read_prior_table(path: str | Path, space: Any, columns: Sequence[str]) -> TablePrior:
    """A `TablePrior` of `columns` of the CSV at `path` (configs read as `space.config_from_row` does)."""
    from predictors.table import read_columns

    columns = [column.strip() for column in columns if column.strip()]
    if not columns:
        raise PredictorError("--prior-columns must name at least one column of the prior table")
    space = resolve_space(space, "prior table")
    configs, values = read_columns(path, space, columns)
    return table_prior_for(configs, values, columns, space, source=f"prior table '{path}'")


def table_prior_for(configs: Sequence[Mapping[str, Any]], values: np.ndarray, columns: Sequence[str],
                    space: Any, source: str = "prior table") -> TablePrior:
    """A fitted `TablePrior` from configs already read (one row of `values` per config)."""
    space = resolve_space(space, "prior table")
    return TablePrior(space=space, config_ids=[space.config_id(config) for config in configs], values=values,
                      columns=list(columns), source=source).fit()


def table_priors(arguments: Any, space: Any) -> TablePrior | None:
    """The prior of the CLI's `--prior-table` / `--prior-columns` (None without them); the target column
    (`arguments.target`) may not be among the priors."""
    table, columns = getattr(arguments, "prior_table", None), getattr(arguments, "prior_columns", None)
    if table is None and columns is None:
        return None
    if table is None or columns is None:
        raise PredictorError("--prior-table and --prior-columns go together: name the CSV and its columns")
    names = [column.strip() for column in columns.split(",")]
    if getattr(arguments, "target", None) in names:
        raise PredictorError(f"--prior-columns may not include the target column {arguments.target!r}: a prior "
                             f"is what is known before the device is measured")
    return read_prior_table(table, space, names)

