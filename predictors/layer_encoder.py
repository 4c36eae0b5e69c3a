"""Encoders built from a space's per-layer costs (`space.layer_costs(config)`, a list of `LayerCost`).

* `LayerSlotEncoder`: MACs, parameters and activation bytes per layer *slot* of the space
  (``block7.macs``, ``block7.params``, ``stage1.node3.from_node1.activation_bytes``), zero where the
  slot is not part of the network. For `ofa_mbv3` these are the per-block MACs and activation sizes of
  the active blocks at the config's resolution; for `vit`, per-layer costs of every block; for `nb201`,
  per-edge costs of the live edges in each stage.
* `LayerKindEncoder`: per layer *kind* (``mbconv.k5.e4.se``, ``mlp.int8``, ``nor_conv_3x3.stage1.dead``),
  the number of layers that compute, their MACs, parameters and activation bytes. A model linear in
  these columns is a per-layer lookup table (a cost per layer, per MAC, per weight and per byte of each
  kind); with `vit` they are the MACs, parameters and bytes by precision.

Both are scikit-learn transformers over lists of config dicts; the columns come from the space alone
(every slot of `layer_costs`, every kind of `layer_kinds`), so any training sample gives the same
columns. A layer *computes* when it is active or has a cost (an eager runtime runs the dead edges of a
NAS-Bench-201 cell that are not `none`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from predictors.encoder import as_config_list
from predictors.encoding_cache import encode_rows
from predictors.errors import PredictorError
from predictors.space_argument import resolve_space

LAYER_COSTS = ("macs", "params", "activation_bytes")


def _layers(space: Any, config: Mapping[str, Any]) -> list:
    from search_spaces import ConfigError

    try:
        return space.layer_costs(config)
    except ConfigError as error:
        raise PredictorError(str(error)) from None


def _computes(layer: Any) -> bool:
    return layer.active or layer.macs > 0 or layer.activation_bytes > 0


class _LayerEncoder(TransformerMixin, BaseEstimator):
    """Shared fit/transform: subclasses name the columns (`_columns`) and fill one row (`_row`)."""

    def __init__(self, space: Any = None) -> None:
        self.space = space

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any = None) -> "_LayerEncoder":
        space = resolve_space(self.space, type(self).__name__)
        self.space_ = space
        self.feature_names_ = self._columns(space)
        self.index_ = {name: position for position, name in enumerate(self.feature_names_)}
        return self

    def transform(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        configs = as_config_list(configs)
        return encode_rows((type(self).__name__, self.space_.key, tuple(self.feature_names_)), configs,
                           len(self.feature_names_), self._row)

    def _row(self, config: Mapping[str, Any]) -> np.ndarray:
        row = np.zeros(len(self.feature_names_))
        self._fill(row, _layers(self.space_, config))
        return row

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)


class LayerSlotEncoder(_LayerEncoder):
    """Per layer slot: MACs, parameters and activation bytes of the slot's layer, zero when inactive.

    Learned state: `feature_names_` (``<slot>.macs``, ``<slot>.params``, ``<slot>.activation_bytes``).
    """

    def _columns(self, space: Any) -> list[str]:
        slots = [layer.slot for layer in _layers(space, space.largest())]
        return [f"{slot}.{cost}" for slot in slots for cost in LAYER_COSTS]

    def _fill(self, row: np.ndarray, layers: list) -> None:
        for layer in layers:
            if layer.active:
                for cost in LAYER_COSTS:
                    position = self.index_.get(f"{layer.slot}.{cost}")
                    if position is None:
                        raise PredictorError(f"space {self.space_.name!r} returned layer slot {layer.slot!r}, which "
                                             f"the encoder was not fitted with; refit the predictor")
                    row[position] = getattr(layer, cost)


class LayerKindEncoder(_LayerEncoder):
    """Per layer kind: how many layers of the kind compute, and their MACs, parameters, activation bytes.

    Learned state: `feature_names_` (``<kind>.count``, ``.macs``, ``.params``, ``.activation_bytes``),
    `kinds_` (the space's kinds, in order).
    """

    def _columns(self, space: Any) -> list[str]:
        from search_spaces import ConfigError

        try:
            self.kinds_ = list(space.layer_kinds())
        except ConfigError as error:
            raise PredictorError(str(error)) from None
        return [f"{kind}.{column}" for kind in self.kinds_ for column in ("count", *LAYER_COSTS)]

    def _fill(self, row: np.ndarray, layers: list) -> None:
        for layer in layers:
            if not _computes(layer):
                continue
            position = self.index_.get(f"{layer.kind}.count")
            if position is None:
                raise PredictorError(f"space {self.space_.name!r} returned layer kind {layer.kind!r}, which is not "
                                     f"in its layer_kinds() {self.kinds_}")
            row[position] += 1.0
            for offset, cost in enumerate(LAYER_COSTS, start=1):
                row[position + offset] += getattr(layer, cost)
