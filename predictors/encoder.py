"""`ConfigEncoder`: architecture configs (flat dicts) to a numeric feature matrix.

The features are the config's own keys (so a predictor's features read like the config), followed by
the space's analytic costs and the logarithms of the largest of them:

* a numeric choice is one column named by its key (``"block3.num_heads"``);
* a choice with any non-numeric value (a precision such as ``"int8"``) is one-hot, one column per
  allowed value, named ``"key=value"``;
* every key that ``space.cost_features`` returns, in its order (MACs, parameters, activation sizes,
  and whatever a space adds later, such as MACs per precision);
* ``log1p_<name>`` for the cost features in ``LOG_FEATURES`` that the space reports.

Configs are canonicalised first, so two spellings of one network encode identically.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from predictors.encoding_cache import encode_rows
from predictors.errors import PredictorError
from predictors.space_argument import resolve_space

LOG_FEATURES = ("macs", "params")  # costs spanning orders of magnitude: their log is a feature too


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating))


class ConfigEncoder(TransformerMixin, BaseEstimator):
    """Encode configs of `space` (a SearchSpace, or the name of a space with default arguments).

    Learned state: `feature_names_` (list of str), `numeric_keys_`, `one_hot_keys_` (key -> values),
    `cost_names_` (the cost features' keys, in the space's order).
    """

    def __init__(self, space: Any = None) -> None:
        self.space = space

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any = None) -> "ConfigEncoder":
        space = resolve_space(self.space, type(self).__name__)
        configs = as_config_list(configs)
        self.numeric_keys_ = [key for key, choice in space.choices.items()
                              if all(_is_numeric(value) for value in choice.values)]
        self.one_hot_keys_ = {key: list(choice.values) for key, choice in space.choices.items()
                              if key not in self.numeric_keys_}
        example = space.canonical(configs[0]) if configs else space.smallest()
        self.cost_names_ = list(space.cost_features(example))
        self.log_names_ = [name for name in LOG_FEATURES if name in self.cost_names_]
        names = [key for key in space.choices if key in self.numeric_keys_ or key in self.one_hot_keys_]
        columns: list[str] = []
        for key in names:
            if key in self.numeric_keys_:
                columns.append(key)
            else:
                columns.extend(f"{key}={value}" for value in self.one_hot_keys_[key])
        columns.extend(self.cost_names_)
        columns.extend(f"log1p_{name}" for name in self.log_names_)
        self.feature_names_ = columns
        self.space_ = space
        return self

    def transform(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Matrix of shape (len(configs), len(feature_names_)), float64."""
        check_is_fitted(self, "feature_names_")
        configs = as_config_list(configs)
        return encode_rows(("config", self.space_.key, tuple(self.feature_names_)), configs,
                           len(self.feature_names_), self._encode_one)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)

    def _encode_one(self, config: Mapping[str, Any]) -> list[float]:
        space = self.space_
        config = space.canonical(config)
        row: list[float] = []
        for key in space.choices:
            if key in self.one_hot_keys_:
                row.extend(1.0 if config[key] == value else 0.0 for value in self.one_hot_keys_[key])
            else:
                row.append(float(config[key]))
        costs = space.cost_features(config)
        if list(costs) != self.cost_names_:
            raise PredictorError(f"space {space.name!r} returned cost features {list(costs)}, but the encoder "
                                 f"was fitted with {self.cost_names_}; refit the predictor")
        row.extend(float(costs[name]) for name in self.cost_names_)
        row.extend(math.log1p(max(float(costs[name]), 0.0)) for name in self.log_names_)
        return row


def as_config_list(configs: Any) -> list[Mapping[str, Any]]:
    if isinstance(configs, Mapping):
        raise PredictorError("configs must be a list of config dicts, got a single dict; wrap it in a list")
    configs = list(configs)
    for index, config in enumerate(configs):
        if not isinstance(config, Mapping):
            raise PredictorError(f"configs[{index}] must be a config dict, got {type(config).__name__}")
    return configs
