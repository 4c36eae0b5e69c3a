"""`ensemble`: several predictors fitted on subsamples, whose spread says how sure the prediction is.

Each of `n_members` members is a registered predictor (`members`, cycled) fitted on a random 80% of
the training rows, drawn without replacement so no row is both fitted and held out inside a member's
own cross-validation. The prediction is the geometric mean of the members' (their mean in log space).

**Uncertainty.** ``predict(configs, return_std=True)`` returns ``(mean_ms, std_ms)``, both of shape
(n,), with std_ms > 0: the standard deviation of the latency in ms, from

* the members' disagreement: the standard deviation of their log predictions (large where the
  training rows say little: the configs worth measuring next), and
* the noise the members cannot explain: the root mean square log error of each training row predicted
  by the members that did not see it (out of bag), `noise_std_`,

added in quadrature in log space and turned into ms (std_ms = mean_ms * sqrt(disagreement² + noise²)).
``predict(configs)`` alone returns the mean, as every predictor's does; `member_std(configs)` gives the
disagreement part alone (relative, in log units).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from predictors.errors import PredictorError
from predictors.registry import create_predictor, register_predictor
from predictors.validation import check_training_data

SUBSAMPLE = 0.8
MIN_MEMBER_ROWS = 2


@register_predictor("ensemble")
class EnsembleLatencyPredictor(RegressorMixin, BaseEstimator):
    """Predict latency (ms) and its uncertainty from members fitted on subsamples of the rows.

    Hyper-parameters:
        space: the SearchSpace (or a space name) whose configs are predicted.
        members: registered predictor names, cycled over the members (default: gbdt only).
        n_members: how many members (at least 2).
        priors: a prior transformer (`predictors.priors`) given to every member, or None.
        random_state: seed of the subsamples.

    Learned state: `members_` (fitted predictors), `noise_std_` (out-of-bag RMS log error), `n_train_`.
    """

    def __init__(self, space: Any = None, members: Sequence[str] = ("gbdt",), n_members: int = 5,
                 priors: Any = None, random_state: int | None = 0) -> None:
        self.space = space
        self.members = members
        self.n_members = n_members
        self.priors = priors
        self.random_state = random_state

    def fit(self, configs: Sequence[Mapping[str, Any]], y: Any) -> "EnsembleLatencyPredictor":
        configs, targets = check_training_data(configs, y)
        if isinstance(self.members, str) or not len(self.members) or int(self.n_members) < 2:
            raise PredictorError(f"ensemble needs a list of member names and n_members >= 2, got members="
                                 f"{self.members!r}, n_members={self.n_members!r}")
        rng = np.random.default_rng(self.random_state)
        size = max(MIN_MEMBER_ROWS, int(round(SUBSAMPLE * len(configs))))
        out_of_bag = [[] for _ in configs]
        self.members_ = []
        for index in range(int(self.n_members)):
            name = self.members[index % len(self.members)]
            chosen = np.sort(rng.choice(len(configs), size=min(size, len(configs)), replace=False))
            member = create_predictor(name, space=self.space, priors=self.priors)
            member.fit([configs[i] for i in chosen], targets[chosen])
            self.members_.append(member)
            left_out = np.setdiff1d(np.arange(len(configs)), chosen)
            if len(left_out):
                for row, value in zip(left_out, member.predict([configs[i] for i in left_out])):
                    out_of_bag[row].append(np.log(value))
        errors = [np.log(targets[row]) - np.mean(values) for row, values in enumerate(out_of_bag) if values]
        self.noise_std_ = float(np.sqrt(np.mean(np.square(errors)))) if errors else 0.0
        self.n_train_ = len(configs)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]], return_std: bool = False) -> Any:
        """Mean predicted latency in ms; with `return_std`, also its standard deviation in ms."""
        log_predictions = self._log_predictions(configs)
        mean = np.exp(log_predictions.mean(axis=0)) if log_predictions.size else np.empty(0)
        if not return_std:
            return mean
        spread = log_predictions.std(axis=0) if log_predictions.size else np.empty(0)
        relative = np.sqrt(spread ** 2 + self.noise_std_ ** 2)
        return mean, np.maximum(mean * relative, np.finfo(float).tiny)

    def interval_scale(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The relative spread per config (std_ms / mean_ms of `predict(return_std=True)`): the scale of a
        normalised conformal interval (predictors.intervals)."""
        relative = np.sqrt(self.member_std(configs) ** 2 + self.noise_std_ ** 2)
        return np.maximum(relative, 1e-12)

    def member_std(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The members' disagreement: standard deviation of their log predictions, per config."""
        log_predictions = self._log_predictions(configs)
        return log_predictions.std(axis=0) if log_predictions.size else np.empty(0)

    def _log_predictions(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        check_is_fitted(self, "members_")
        return np.log(np.vstack([member.predict(configs) for member in self.members_]))
