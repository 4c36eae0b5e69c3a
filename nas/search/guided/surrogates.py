"""Surrogates for the guided sampler: `fit(configs, y)` and `predict(configs) -> (mean, spread)`.

The spread is a per-network relative uncertainty; the sampler calibrates its scale on the networks it
predicted before they were measured. Two kinds, both made from what exists:

* `PredictorSurrogate`: a registered predictor (`predictors.create_predictor`, `gbdt` for latency);
  one model, no spread of its own (ones).
* `ForestSurrogate`: extremely randomised trees on `FeatureCache` rows (the space's function features
  where it has them, else `predictors.ConfigEncoder` features); the spread is the standard deviation
  over the trees (for accuracy, which no registered predictor models yet).

When the predictors package offers an ensemble with its own uncertainty, it can take either place
through this interface.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


class FeatureCache:
    """Encoded feature rows of configs, computed once per network.

    Where the space describes the function a network computes (`function_features`, e.g. NAS-Bench-201's
    path counts), those features: every wiring of one function gets the same row, so what a measurement
    says reaches all of them. Otherwise `predictors.ConfigEncoder`'s features, and, where the space has a
    functional view (`functional_config`, dead edges set to `none`), the one-hot of that view too.

    With `sensitivity` (the `increase` of nas.models.sensitivity.precision_sensitivity), one more column:
    the summed sensitivity of the config's lowered blocks (`summed_sensitivity`)."""

    def __init__(self, space: Any, sensitivity: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self.space = space
        self.keys = list(space.choices)
        self.rows: dict[tuple, np.ndarray] = {}
        self.sensitivity = dict(sensitivity) if sensitivity else None
        extra = ["sensitivity.sum"] if self.sensitivity else []
        if getattr(space, "has_function_features", False):
            self.names = list(space.function_features(space.smallest())) + extra
            self.encoder, self.functional = None, []
            self.width = len(self.names)
            return
        from predictors import ConfigEncoder

        self.encoder = ConfigEncoder(space).fit([space.smallest()])
        self.functional = [(key, value) for key in self.keys for value in space.choices[key].values] \
            if getattr(space, "has_functional_view", False) else []
        self.names = list(self.encoder.feature_names_) \
            + [f"functional.{key}={value}" for key, value in self.functional] + extra
        self.width = len(self.names)

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        keys = [tuple(config[key] for key in self.keys) for config in configs]
        missing = {key: config for key, config in zip(keys, configs) if key not in self.rows}
        if missing:
            for key, row in zip(missing, self._encode(list(missing.values()))):
                self.rows[key] = row
        if not keys:
            return np.empty((0, self.width))
        return np.stack([self.rows[key] for key in keys])

    def _encode(self, configs: list[Mapping[str, Any]]) -> list[np.ndarray]:
        if self.encoder is None:
            rows = []
            for config in configs:
                features = self.space.function_features(config)
                rows.append(np.concatenate([[float(features[name]) for name in self.names[: len(features)]],
                                            self._sensitivity(config)]))
            return rows
        encoded = self.encoder.transform(configs)
        return [np.concatenate([row, self._functional_one_hot(config), self._sensitivity(config)])
                for row, config in zip(encoded, configs)]

    def _sensitivity(self, config: Mapping[str, Any]) -> np.ndarray:
        if not self.sensitivity:
            return np.empty(0)
        from nas.models.sensitivity import summed_sensitivity

        return np.array([summed_sensitivity(self.space, self.sensitivity, dict(config))])

    def _functional_one_hot(self, config: Mapping[str, Any]) -> np.ndarray:
        if not self.functional:
            return np.empty(0)
        view = self.space.functional_config(config)
        return np.array([float(view[key] == value) for key, value in self.functional])


class PredictorSurrogate:
    """A registered predictor (default `gbdt`) as a surrogate with unit spread."""

    def __init__(self, space: Any, model: str = "gbdt", **hyper_parameters: Any) -> None:
        self.space, self.model, self.hyper_parameters = space, model, hyper_parameters

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "PredictorSurrogate":
        from predictors import create_predictor

        self.predictor_ = create_predictor(self.model, space=self.space, **self.hyper_parameters).fit(list(configs), y)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(self.predictor_.predict(list(configs)), dtype=float)
        return mean, np.ones_like(mean)


class ForestSurrogate:
    """Extremely randomised trees; spread = standard deviation of the trees' predictions."""

    def __init__(self, features: FeatureCache, trees: int = 32, max_features: float = 0.5, seed: int = 0) -> None:
        self.features, self.trees, self.max_features, self.seed = features, trees, max_features, seed

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "ForestSurrogate":
        from sklearn.ensemble import ExtraTreesRegressor

        self.forest_ = ExtraTreesRegressor(n_estimators=self.trees, max_features=self.max_features,
                                           random_state=self.seed).fit(self.features.encode(configs), np.asarray(y))
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        matrix = self.features.encode(configs)
        if not len(matrix):
            return np.empty(0), np.empty(0)
        per_tree = np.stack([tree.predict(matrix) for tree in self.forest_.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)
