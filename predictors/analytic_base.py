"""What the analytic predictors share: encode the training configs, pick the affine stage's columns.

The affine stage regresses latency on a few analytic costs (the space's `analytic_features`, or the
`features` a predictor names) plus every prior column: latency on a new device is close to affine in
its latency on other devices, which is what makes a prior worth 10-50 measurements.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from predictors.network_encoder import NetworkEncoder
from predictors.relative_ridge import analytic_columns

# Ridge penalties tried by cross-validation on the training rows (on standardised columns).
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def encode_training(space: Any, priors: Any, configs: Sequence[Mapping[str, Any]],
                    features: Sequence[str] | None = None,
                    layer_slots: bool = True) -> tuple[NetworkEncoder, np.ndarray, list[int]]:
    """(fitted encoder, encoded training matrix, columns of the affine stage)."""
    encoder = NetworkEncoder(space, layer_slots=layer_slots, priors=priors).fit(configs)
    matrix = encoder.transform(configs)
    columns = analytic_columns(encoder.feature_names_, features, encoder.cost_names_,
                               getattr(encoder.space_, "analytic_features", None))
    columns += encoder.columns_named(encoder.prior_names_)
    return encoder, matrix, columns
