"""`NetworkEncoder`: every feature a latency model sees, as one scikit-learn transformer.

The columns, in order:

1. `ConfigEncoder`: the config's own keys and the space's analytic costs (totals);
2. `LayerSlotEncoder` (when the space describes its layers and `layer_slots` is on): per-slot MACs and
   activation bytes of the active layers;
3. the prior's columns (``prior:<source>``) when a prior is given (`predictors.priors`).

A model picks columns by name (`columns_named`), so which parts are present does not matter to it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from predictors.encoder import ConfigEncoder, as_config_list
from predictors.layer_encoder import LayerSlotEncoder
from predictors.space_argument import resolve_space


def describes_layers(space: Any) -> bool:
    """Whether the space returns per-layer costs (`layer_costs`)."""
    from search_spaces import ConfigError

    try:
        space.layer_costs(space.smallest())
    except (ConfigError, AttributeError):
        return False
    return True


class NetworkEncoder(TransformerMixin, BaseEstimator):
    """Config keys and analytic costs, per-slot layer costs, and prior columns.

    Hyper-parameters: `space`, `layer_slots` (add the per-slot columns when the space has them),
    `priors` (a prior transformer or None).
    Learned state: `parts_` (name, fitted transformer), `feature_names_`, `cost_names_` (the space's
    cost features), `prior_names_`, `space_`.
    """

    def __init__(self, space: Any = None, layer_slots: bool = True, priors: Any = None) -> None:
        self.space = space
        self.layer_slots = layer_slots
        self.priors = priors

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any = None) -> "NetworkEncoder":
        space = resolve_space(self.space, type(self).__name__)
        configs = as_config_list(configs)
        config_encoder = ConfigEncoder(space).fit(configs)
        self.parts_ = [("config", config_encoder)]
        if self.layer_slots and describes_layers(space):
            self.parts_.append(("slots", LayerSlotEncoder(space).fit(configs)))
        self.prior_names_: list[str] = []
        if self.priors is not None:
            self.parts_.append(("priors", self.priors.fit(configs)))  # fit is idempotent: it learns a lookup
            self.prior_names_ = list(self.priors.get_feature_names_out())
        self.feature_names_ = [name for _, part in self.parts_ for name in part.get_feature_names_out()]
        self.cost_names_ = list(config_encoder.cost_names_)
        self.space_ = space
        return self

    def transform(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        check_is_fitted(self, "parts_")
        configs = as_config_list(configs)
        if not configs:
            return np.empty((0, len(self.feature_names_)))
        return np.hstack([part.transform(configs) for _, part in self.parts_])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "parts_")
        return np.asarray(self.feature_names_, dtype=object)

    def columns_named(self, names: Sequence[str]) -> list[int]:
        index = {name: position for position, name in enumerate(self.feature_names_)}
        return [index[name] for name in names]
