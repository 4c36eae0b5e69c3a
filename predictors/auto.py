"""`auto`: the registered predictor that cross-validates best on the training rows, refitted on all.

Each candidate is fitted K times, each time without one fold of the training rows, and predicts that
fold; the out-of-fold predictions of all rows are scored together with the benchmark's own measures,
``within_10pct + kendall_tau`` (a share of good predictions plus a ranking quality, both in [0, 1]).
The best candidate (the first listed on a tie) is refitted on every row. Nothing but the training rows
decides, so the choice carries over to devices and spaces no one tuned for. A candidate that cannot
work on the space (`additive` on a space without per-layer costs) is left out.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.cross_validation import cross_validated_quality, fold_count, selection_score
from predictors.errors import PredictorError
from predictors.network_encoder import describes_layers
from predictors.registry import create_predictor, predictor_class, register_predictor
from predictors.space_argument import resolve_space
from predictors.validation import check_training_data

CANDIDATES = ("gbdt", "ridge", "additive", "mlp")


@register_predictor("auto")
class AutoLatencyPredictor(RegressorMixin, BaseEstimator):
    """The candidate predictor with the best cross-validated score on the training rows.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        candidates: registered predictor names to choose from.
        cv_folds: folds of the selection (fewer when there are few rows; at least 2 rows per fold).
        priors: a prior transformer (`predictors.priors`) given to every candidate, or None.
        random_state: seed of the folds.

    Learned state: `chosen_` (the name), `scores_` (name -> cross-validated quality and score),
    `model_` (the chosen predictor fitted on every row), `n_train_`.
    """

    def __init__(self, space: Any = None, candidates: Sequence[str] = CANDIDATES, cv_folds: int = 5,
                 priors: Any = None, random_state: int | None = 0) -> None:
        self.space = space
        self.candidates = candidates
        self.cv_folds = cv_folds
        self.priors = priors
        self.random_state = random_state

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "AutoLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        candidates = [self.candidates] if isinstance(self.candidates, str) else list(self.candidates)
        if not candidates or "auto" in candidates:
            raise PredictorError(f"auto: candidates must name registered predictors other than 'auto', "
                                 f"got {self.candidates!r}")
        space = resolve_space(self.space, type(self).__name__)
        folds = fold_count(self.cv_folds, len(configs))
        arguments = {"space": self.space, "priors": self.priors}
        self.scores_: dict[str, dict[str, float]] = {}
        if folds >= 2 and len(candidates) > 1:
            for name in candidates:
                if getattr(predictor_class(name), "needs_layer_costs", False) and not describes_layers(space):
                    continue  # the candidate needs what this space does not describe
                quality = cross_validated_quality(name, configs, targets, folds, self.random_state, **arguments)
                self.scores_[name] = {**quality, "score": selection_score(quality)}
        if self.scores_:
            self.chosen_ = max(self.scores_, key=lambda name: (self.scores_[name]["score"],
                                                               -candidates.index(name)))
        else:
            self.chosen_ = candidates[0]
        self.model_ = create_predictor(self.chosen_, **arguments).fit(configs, targets)
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latency in milliseconds, one per config, by the chosen predictor."""
        check_is_fitted(self, "model_")
        return self.model_.predict(configs)
