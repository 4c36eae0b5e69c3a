"""Checks shared by every predictor's `fit`: configs are dicts, targets are positive and match them."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from predictors.errors import PredictorError


def check_training_data(configs: Sequence[Mapping[str, Any]], y: Any) -> tuple[list, np.ndarray]:
    """(configs as a list, y as a float64 vector); one-line PredictorError when they do not fit."""
    if isinstance(configs, Mapping):
        raise PredictorError("configs must be a list of config dicts, got a single dict; wrap it in a list")
    configs = list(configs)
    targets = np.asarray(y, dtype=np.float64).ravel()
    if len(configs) != targets.size:
        raise PredictorError(f"got {len(configs)} configs but {targets.size} targets; they must match one to one")
    if not configs:
        raise PredictorError("cannot fit a predictor on zero configs")
    bad = np.flatnonzero(~np.isfinite(targets) | (targets <= 0))
    if bad.size:
        raise PredictorError(f"targets must be finite and positive (latencies in ms); y[{bad[0]}] = {targets[bad[0]]}")
    return configs, targets
