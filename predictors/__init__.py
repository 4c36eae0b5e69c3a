"""predictors: *how to estimate* a network's cost without running it.

Feature encoders (scikit-learn transformers), latency predictors in the scikit-learn estimator
contract (registered by name: `gbdt`, `ridge`, `additive`, `mlp`, `ensemble`, `auto`), priors from
other devices, their quality metrics, conformal prediction intervals for any of them, and their saved
files. Reads `search_spaces` (an encoder needs a space's choices and analytic costs); imports no
runtime and no torch.
"""

from predictors.artifact import load_predictor, save_predictor
from predictors.encoder import ConfigEncoder
from predictors.errors import PredictorError
from predictors.intervals import Calibration, IntervalPredictor, with_intervals
from predictors.layer_encoder import LayerKindEncoder, LayerSlotEncoder
from predictors.metrics import regression_quality
from predictors.network_encoder import NetworkEncoder
from predictors.priors import PredictorPrior, TablePrior, read_prior_table
from predictors.registry import PREDICTORS, create_predictor, predictor_class, predictor_names, register_predictor
from predictors.relative_ridge import ANALYTIC_FEATURES, RelativeErrorRidge
from predictors.gbdt import GradientBoostingLatencyPredictor  # registers "gbdt"
from predictors.ridge import RidgeLatencyPredictor  # registers "ridge"
from predictors.additive import AdditiveLatencyPredictor  # registers "additive"
from predictors.mlp import MLPLatencyPredictor  # registers "mlp"
from predictors.ensemble import EnsembleLatencyPredictor  # registers "ensemble"
from predictors.auto import AutoLatencyPredictor  # registers "auto"

__all__ = [
    "ANALYTIC_FEATURES",
    "AdditiveLatencyPredictor",
    "AutoLatencyPredictor",
    "Calibration",
    "ConfigEncoder",
    "EnsembleLatencyPredictor",
    "GradientBoostingLatencyPredictor",
    "IntervalPredictor",
    "LayerKindEncoder",
    "LayerSlotEncoder",
    "MLPLatencyPredictor",
    "NetworkEncoder",
    "PredictorError",
    "PredictorPrior",
    "RelativeErrorRidge",
    "RidgeLatencyPredictor",
    "TablePrior",
    "create_predictor",
    "load_predictor",
    "predictor_class",
    "predictor_names",
    "read_prior_table",
    "regression_quality",
    "register_predictor",
    "save_predictor",
    "with_intervals",
]
