"""`additive`: a per-layer lookup table learned from whole-network measurements.

nn-Meter and LitePred time each kernel on the device and add the times up. We measure whole networks
only, so the table is learned instead: latency = overhead + the sum over the network's layers of

    per_layer[kind] + per_mac[kind] * macs + per_param[kind] * parameters + per_byte[kind] * activation bytes

for each layer kind the space names (`space.layer_kinds()`: "mbconv.k5.e4.se", "mlp.int8",
"nor_conv_3x3.stage1.dead"...). That is linear in the table's entries, whose columns are what
`LayerKindEncoder` counts and sums, so the table is a ridge regression fitted for relative error with
every entry kept >= 0 (a layer cannot take negative time). The penalty is chosen by cross-validation
on the training rows. Prior columns (`priors`) join as more non-negative terms.

`layer_latencies(config)` gives the table's estimate for each layer of one network, which says where
the time goes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.analytic_base import ALPHAS
from predictors.encoder import as_config_list
from predictors.layer_encoder import LayerKindEncoder
from predictors.registry import register_predictor
from predictors.relative_ridge import RelativeErrorRidge
from predictors.space_argument import resolve_space
from predictors.validation import check_training_data

PER_UNIT = {"count": "per_layer_ms", "macs": "per_mac_ms", "params": "per_param_ms", "activation_bytes": "per_byte_ms"}


@register_predictor("additive")
class AdditiveLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) as a sum of per-layer costs from a learned per-kind lookup table.

    Hyper-parameters:
        space: a SearchSpace (or its name) that describes its networks layer by layer.
        alpha: ridge penalty on the scaled columns, or a list to choose from by cross-validation.
        loss: "absolute" or "squared" relative error.
        priors: a prior transformer (`predictors.priors`) or None.

    Learned state: `encoder_` (LayerKindEncoder), `prior_` (the fitted prior or None), `model_`
    (RelativeErrorRidge with positive coefficients), `table_` (kind -> {"per_layer_ms", "per_mac_ms",
    "per_param_ms", "per_byte_ms"}, kinds seen in training only), `overhead_ms_`, `n_train_`.
    """

    needs_layer_costs = True  # `auto` leaves it out on spaces without `layer_costs`

    def __init__(self, space: Any = None, alpha: float | Sequence[float] = ALPHAS, loss: str = "absolute",
                 priors: Any = None) -> None:
        self.space = space
        self.alpha = alpha
        self.loss = loss
        self.priors = priors

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "AdditiveLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        self.encoder_ = LayerKindEncoder(resolve_space(self.space, type(self).__name__)).fit(configs)
        self.prior_ = None if self.priors is None else self.priors.fit(configs)
        matrix = self._matrix(configs)
        used = np.flatnonzero(np.any(matrix != 0, axis=0))  # kinds never seen in training stay out of the table
        self.columns_ = [int(column) for column in used]
        self.model_ = RelativeErrorRidge(columns=self.columns_, alpha=self.alpha, loss=self.loss,
                                         positive=True).fit(matrix, targets)
        self.alpha_ = self.model_.alpha_
        self.table_, self.overhead_ms_ = self._table()
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config."""
        check_is_fitted(self, "model_")
        matrix = self._matrix(as_config_list(configs))
        return self.model_.predict(matrix) if len(matrix) else np.empty(0)

    def layer_latencies(self, config: Mapping[str, Any]) -> list[tuple[str, str, float]]:
        """(slot, kind, estimated ms) for each layer of `config` that computes, from the table."""
        check_is_fitted(self, "table_")
        rows = []
        for layer in self.encoder_.space_.layer_costs(config):
            if layer.active or layer.macs > 0 or layer.activation_bytes > 0:
                entry = self.table_.get(layer.kind, {})
                rows.append((layer.slot, layer.kind, entry.get("per_layer_ms", 0.0)
                             + entry.get("per_mac_ms", 0.0) * layer.macs
                             + entry.get("per_param_ms", 0.0) * layer.params
                             + entry.get("per_byte_ms", 0.0) * layer.activation_bytes))
        return rows

    def _matrix(self, configs: list) -> np.ndarray:
        parts = [self.encoder_.transform(configs)]
        if self.prior_ is not None:
            parts.append(self.prior_.transform(configs))
        return np.hstack(parts) if configs else np.empty((0, sum(part.shape[1] for part in parts)))

    def _table(self) -> tuple[dict[str, dict[str, float]], float]:
        """The fitted coefficients in ms per unit, by kind, and the per-network overhead."""
        coefficients = self.model_.coef_ / self.model_.scale_
        names = self.encoder_.feature_names_
        table: dict[str, dict[str, float]] = {}
        for column, coefficient in zip(self.columns_, coefficients):
            if column < len(names):
                kind, _, unit = names[column].rpartition(".")
                table.setdefault(kind, {})[PER_UNIT[unit]] = float(coefficient)
        return table, float(self.model_.intercept_)
