"""predictors: *how to estimate* a network's cost without running it.

Feature encoders, latency predictors in the scikit-learn estimator contract (registered by name), their
quality metrics and their saved files. Reads `search_spaces` (an encoder needs a space's choices and
analytic costs); imports no runtime and no torch.
"""

from predictors.artifact import load_predictor, save_predictor
from predictors.encoder import ConfigEncoder
from predictors.errors import PredictorError
from predictors.metrics import regression_quality
from predictors.registry import create_predictor, predictor_class, predictor_names, register_predictor
from predictors.relative_ridge import ANALYTIC_FEATURES, RelativeErrorRidge
from predictors.gbdt import GradientBoostingLatencyPredictor  # registers "gbdt"
from predictors.ridge import RidgeLatencyPredictor  # registers "ridge"

__all__ = [
    "ANALYTIC_FEATURES",
    "ConfigEncoder",
    "GradientBoostingLatencyPredictor",
    "PredictorError",
    "RelativeErrorRidge",
    "RidgeLatencyPredictor",
    "create_predictor",
    "load_predictor",
    "predictor_class",
    "predictor_names",
    "regression_quality",
    "register_predictor",
    "save_predictor",
]
