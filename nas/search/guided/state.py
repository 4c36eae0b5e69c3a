"""The working state of the guided sampler (nas.search.guided.sampler): candidates, surrogates, calibration, the choice.

Everything here is rebuilt from the study when needed; caches (encoded candidates, the fitted surrogates
and their predictions) only save time.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.special import ndtr

from nas.search.guided.acquisition import probability_dominated, staircase
from nas.search.guided.candidates import ENUMERATE_LIMIT, candidate_pool, enumerate_space, mutations, space_size
from nas.search.guided.normal_scores import NormalScores
from nas.search.pareto import non_dominated_ranks, pareto_mask
from nas.search.study_attrs import PREDICTED_ATTR, chosen_fully
from nas.search.guided.surrogates import FeatureCache, ForestSurrogate, PredictorSurrogate

DEFAULT_LOG_LATENCY_SD = 0.1  # before five predicted-then-measured latencies exist
MIN_RESIDUALS = 5
LATENCY_COVERAGE = 0.9  # the interval recorded with every latency predicted before a measurement (trials.csv)


class GuidedState:
    def __init__(self, space: Any, fixed: Mapping[str, Any], seed: int, settings: Any,
                 prior_latencies: Sequence, candidates: Sequence, sensitivity: Mapping | None = None) -> None:
        self.space, self.fixed, self.seed, self.settings = space, dict(fixed), seed, settings
        self.keys = list(space.choices)
        self.features = FeatureCache(space, sensitivity)
        self.encoded_rows: dict = {}  # the latency predictor encodes every candidate at every refit: rows kept
        self.prior = {space.config_id(config): (space.canonical(config), float(latency))
                      for config, latency in prior_latencies}
        if candidates:
            pool = [space.canonical(c) for c in candidates
                    if all(space.canonical(c)[key] == value for key, value in self.fixed.items())]
        elif space_size(space, self.fixed) <= ENUMERATE_LIMIT:
            pool = enumerate_space(space, self.fixed)
        else:
            pool = None
        self.static = pool is not None
        self.accuracy_model = self.latency_model = None
        self.accuracy_fitted_at = self.latency_fitted_at = -1
        self._reset_pool(pool or [])
        self.predicted_front: list | None = None

    # ------------------------------------------------------------------ candidates
    def _reset_pool(self, configs: list[dict]) -> None:
        self.encoded_rows.clear()  # a new pool of random networks: few old rows would be asked again
        self.pool: list[dict] = []
        self.pool_ids: list[str] = []
        self.pool_index: dict[str, int] = {}
        self.codes = np.zeros((0, len(self.keys)), dtype=np.int16)
        self.accuracy_mean = self.accuracy_spread = self.log_latency = np.zeros(0)
        self.distance = np.zeros(0)
        self.distance_from: set[str] = set()
        self._add(configs)

    def _add(self, configs: list[dict]) -> None:
        """Append new candidates; predict them if the surrogates exist."""
        fresh = []
        for config in configs:
            config_id = self.space.config_id(config)
            if config_id not in self.pool_index:
                self.pool_index[config_id] = len(self.pool)
                self.pool.append(config)
                self.pool_ids.append(config_id)
                fresh.append(config)
        if not fresh:
            return
        codes = np.array([[self.space.choices[key].values.index(c[key]) for key in self.keys] for c in fresh],
                         dtype=np.int16)
        self.codes = np.vstack([self.codes, codes])
        self.distance = np.concatenate([self.distance, self._distance_to(codes, self.measured_codes())])
        if self.accuracy_model is not None:
            mean, spread = self.accuracy_model.predict(fresh)
            self.accuracy_mean = np.concatenate([self.accuracy_mean, mean])
            self.accuracy_spread = np.concatenate([self.accuracy_spread, spread])
        if self.latency_model is not None:
            self.log_latency = np.concatenate([self.log_latency, np.log(self.latency_model.predict(fresh)[0])])

    def measured_codes(self) -> np.ndarray:
        rows = [self.pool_index[i] for i in self.distance_from if i in self.pool_index]
        return self.codes[rows] if rows else np.zeros((0, len(self.keys)), dtype=np.int16)

    @staticmethod
    def _distance_to(codes: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Choices by which each row differs from its nearest measured network (len(keys) if none)."""
        if not len(measured):
            return np.full(len(codes), float(codes.shape[1]))
        return (codes[:, None, :] != measured[None, :, :]).sum(axis=2).min(axis=1).astype(float)

    def _update_distance(self, measured: dict) -> None:
        self._add([entry["config"] for entry in measured.values()])
        for config_id in measured:
            if config_id not in self.distance_from:
                self.distance_from.add(config_id)
                row = self.codes[self.pool_index[config_id]]
                self.distance = np.minimum(self.distance, (self.codes != row).sum(axis=1))

    # ------------------------------------------------------------------ observations
    def observations(self, study: Any, current: int) -> tuple[dict, set]:
        """({config_id: {config, accuracy, latency, prediction}} of completed trials, config_ids pending)."""
        from optuna.trial import TrialState

        measured: dict[str, dict] = {}
        pending: set[str] = set()
        for trial in study.get_trials(deepcopy=False):
            if trial.number == current:
                continue
            if trial.state == TrialState.COMPLETE:
                config = self._config_of(trial)
                measured.setdefault(self.space.config_id(config), {
                    "config": config, "accuracy": float(trial.values[0]), "latency": float(trial.values[1]),
                    "prediction": trial.system_attrs.get(PREDICTED_ATTR)})
                if "projected_from" in trial.user_attrs:  # the proposal, evaluated as another network, is taken
                    pending.add(trial.user_attrs["projected_from"])
            elif trial.state in (TrialState.RUNNING, TrialState.WAITING):
                params = trial.system_attrs.get("fixed_params", trial.params)
                if chosen_fully(self.space, self.fixed, params):
                    pending.add(self.space.config_id({**self.fixed, **params}))
        return measured, pending

    def _config_of(self, trial: Any) -> dict:
        if "config" in trial.user_attrs:  # what the driver evaluated (a table may have projected it)
            return self.space.canonical(json.loads(trial.user_attrs["config"]))
        return self.space.canonical({**self.fixed, **trial.params})

    # ------------------------------------------------------------------ surrogates
    def _schedule_point(self, count: int, growth: float) -> int:
        """The last refit point <= count: initial, then each ~(1 + growth) times the previous. The models
        are a function of the study's first trials only, so a resumed search repeats an uninterrupted one."""
        point = self.settings.initial
        while True:
            following = max(point + 1, int(point * (1 + growth)))
            if following > count:
                return point
            point = following

    def _refit(self, measured: dict) -> None:
        from predictors.encoding_cache import cached_encodings

        with cached_encodings(self.encoded_rows):
            self._refit_cached(measured)

    def _refit_cached(self, measured: dict) -> None:
        settings = self.settings
        accuracy_at = self._schedule_point(len(measured), settings.accuracy_refit_growth)
        latency_at = self._schedule_point(len(measured), settings.latency_refit_growth)
        refit_accuracy = accuracy_at != self.accuracy_fitted_at
        refit_latency = latency_at != self.latency_fitted_at
        if not (refit_accuracy or refit_latency):
            return
        entries = list(measured.values())
        count = accuracy_at
        if refit_latency:
            known = {**self.prior, **{self.space.config_id(e["config"]): (e["config"], e["latency"])
                                      for e in entries[:latency_at]}}
            self.latency_model = PredictorSurrogate(self.space).fit([c for c, _ in known.values()],
                                                                       [y for _, y in known.values()])
            self.latency_fitted_at = latency_at
        if refit_accuracy:
            accuracies = [e["accuracy"] for e in entries[:accuracy_at]]
            self.accuracy_scores = NormalScores().fit(accuracies)  # accuracy is modelled by rank (its docstring)
            self.accuracy_model = ForestSurrogate(self.features, trees=settings.trees, seed=self.seed + accuracy_at).fit(
                [e["config"] for e in entries[:accuracy_at]], self.accuracy_scores.transform(accuracies))
            self.accuracy_fitted_at = accuracy_at
        if not self.static and refit_accuracy:  # new random candidates and mutations of the front, predicted
            rng = np.random.default_rng([self.seed, count])
            first = dict(list(measured.items())[:accuracy_at])
            parents = [first[i]["config"] for i in self._parents(first)]
            self._reset_pool(candidate_pool(self.space, self.fixed, rng, parents, settings.random_candidates,
                                            settings.mutations_per_parent))
            self._update_distance(measured)
        else:
            if refit_accuracy:
                self.accuracy_mean, self.accuracy_spread = self.accuracy_model.predict(self.pool)
            if refit_latency:
                self.log_latency = np.log(self.latency_model.predict(self.pool)[0])
        if refit_accuracy:
            self.predicted_front = self._predicted_front(measured)

    def _parents(self, measured: dict, budget: float | None = None) -> list[str]:
        """The measured networks in the first `parent_ranks` non-dominated ranks (within the budget, if any)."""
        ids = [i for i in measured if budget is None or measured[i]["latency"] <= budget] or list(measured)
        ranks = non_dominated_ranks(np.array([measured[i]["accuracy"] for i in ids]),
                                    np.array([measured[i]["latency"] for i in ids]))
        return [i for i, rank in zip(ids, ranks) if rank < self.settings.parent_ranks]

    def _predicted_front(self, measured: dict) -> list[dict]:
        """Candidates on the front of (measured values, predicted values) that were not measured."""
        accuracy = np.concatenate([self.accuracy_scores.inverse_transform(self.accuracy_mean),
                                   [e["accuracy"] for e in measured.values()]])
        latency = np.concatenate([np.exp(self.log_latency), [e["latency"] for e in measured.values()]])
        mask = pareto_mask(accuracy, latency)[: len(self.pool)]
        rows = [r for r in np.flatnonzero(mask) if self.pool_ids[r] not in measured]
        rows = sorted(rows, key=lambda r: latency[r])[: self.settings.predicted_front_size]
        return [{"config_id": self.pool_ids[r], "accuracy": float(accuracy[r]),
                 "latency_ms": float(latency[r])} for r in rows]

    def take_predicted_front(self) -> list | None:
        front, self.predicted_front = self.predicted_front, None
        return front

    # ------------------------------------------------------------------ calibration
    def _accuracy_sd(self, measured: dict) -> np.ndarray:
        """sqrt((k1 * spread)^2 + (k2 * distance)^2) in normal scores, (k1, k2) by maximum likelihood on
        past residuals (measured and predicted accuracy, both mapped by the current normal scores)."""
        past = [e for e in measured.values() if e["prediction"]][-self.settings.residual_window:]
        scores = self.accuracy_scores
        scale = float(np.ptp(scores.transform([e["accuracy"] for e in measured.values()]))) or 1.0
        k1, k2 = 1.0, 0.0
        if len(past) >= MIN_RESIDUALS:
            residual = (scores.transform([e["accuracy"] for e in past])
                        - scores.transform([e["prediction"]["accuracy"] for e in past]))
            spread = np.array([e["prediction"]["accuracy_score_spread"] for e in past])
            distance = np.array([e["prediction"]["distance"] for e in past])
            rms = float(np.sqrt(np.mean(residual ** 2))) or 1e-3 * scale
            best = -np.inf
            for a in np.logspace(-1.5, 1.0, 11):
                for b in np.concatenate([[0.0], rms * np.logspace(-2, 1, 13)]):
                    variance = (a * spread) ** 2 + (b * distance) ** 2 + (1e-3 * rms) ** 2
                    likelihood = -0.5 * np.sum(residual ** 2 / variance + np.log(variance))
                    if likelihood > best:
                        best, k1, k2 = likelihood, a, b
        return np.sqrt((k1 * self.accuracy_spread) ** 2 + (k2 * self.distance) ** 2) + 1e-3 * scale

    def _log_latency_sd(self, measured: dict) -> float:
        past = [e for e in measured.values() if e["prediction"]][-self.settings.residual_window:]
        if len(past) < MIN_RESIDUALS:
            return DEFAULT_LOG_LATENCY_SD
        residual = [np.log(e["latency"] / e["prediction"]["latency_ms"]) for e in past]
        return max(float(np.sqrt(np.mean(np.square(residual)))), 0.01)

    def _latency_interval(self, measured: dict, predicted_ms: float) -> dict:
        """The LATENCY_COVERAGE split-conformal interval (predictors.intervals) around a latency prediction,
        from the log residuals of the recent networks predicted before they were measured; the bounds are
        None while those are too few to back the coverage (fewer than 9 for 90%)."""
        from predictors.intervals import Calibration

        past = [e for e in measured.values() if e["prediction"]][-self.settings.residual_window:]
        half_width = math.inf if not past else Calibration.from_residuals(
            [np.log(e["latency"] / e["prediction"]["latency_ms"]) for e in past]).half_width(LATENCY_COVERAGE)
        bounded = math.isfinite(half_width)
        return {"latency_low_ms": predicted_ms * math.exp(-half_width) if bounded else None,
                "latency_high_ms": predicted_ms * math.exp(half_width) if bounded else None,
                "latency_interval_coverage": LATENCY_COVERAGE}

    # ------------------------------------------------------------------ the choice
    def choose(self, study: Any, current: int, budget: float | None) -> tuple[dict, dict | None]:
        """(network to measure next, what was predicted for it) for trial number `current`."""
        measured, pending = self.observations(study, current)
        taken = set(measured) | pending
        if len(measured) < self.settings.initial:
            return self._random_network(taken, len(measured)), None
        self._refit(measured)
        self._update_distance(measured)
        local = len(measured) % self.settings.global_every != 0
        if local:
            allowed = self._neighbours([measured[i]["config"] for i in self._parents(measured, budget)])
        else:
            allowed = np.ones(len(self.pool), bool)
        allowed[[self.pool_index[i] for i in taken if i in self.pool_index]] = False
        if not allowed.any():  # no untaken neighbour (or candidate) left: screen everything
            allowed = np.ones(len(self.pool), bool)
            allowed[[self.pool_index[i] for i in taken if i in self.pool_index]] = False
            if not allowed.any():
                return self._random_network(taken, len(measured)), None
        rows = np.flatnonzero(allowed)
        accuracy_sd = self._accuracy_sd(measured)[rows]
        latency_sd = np.full(len(rows), self._log_latency_sd(measured))
        feasible = [e for e in measured.values() if budget is None or e["latency"] <= budget]
        focused = self._focused(len(measured))
        score = None if local or not self.settings.top_pick else self._top_score(rows, accuracy_sd, latency_sd,
                                                                                   feasible, budget)
        if score is not None:  # the global pick reaches for the top (see _top_score)
            step = "top"
            focused = True if focused is not None else None  # it uses the focus's ceiling
        else:
            step = "local" if local else "global"
            score = self._front_score(rows, accuracy_sd, latency_sd, feasible, budget, focused)
        best = int(np.argmax(score))
        row = rows[best]
        return dict(self.pool[row]), {
            "accuracy": float(self.accuracy_scores.inverse_transform(self.accuracy_mean[row])),
            "accuracy_score": float(self.accuracy_mean[row]), "accuracy_score_spread": float(self.accuracy_spread[row]),
            "accuracy_score_sd": float(accuracy_sd[best]), "distance": float(self.distance[row]),
            "latency_ms": float(np.exp(self.log_latency[row])), "log_latency_sd": float(latency_sd[best]),
            **self._latency_interval(measured, float(np.exp(self.log_latency[row]))),
            "score": float(score[best]), "step": step,
            "focused": bool(focused)}

    def _front_score(self, rows: np.ndarray, accuracy_sd: np.ndarray, latency_sd: np.ndarray, feasible: list,
                     budget: float | None, focused: bool | None) -> np.ndarray:
        """P(non-dominated by the measured front), times P(meeting the budget), times P(inside the
        focus) for a focused pick or P(outside it) for an unfocused one."""
        if feasible:
            front_cost, front_accuracy = staircase(self.accuracy_scores.transform([e["accuracy"] for e in feasible]),
                                                   np.log([e["latency"] for e in feasible]))
            score = 1.0 - probability_dominated(self.accuracy_mean[rows], accuracy_sd, self.log_latency[rows],
                                                latency_sd, front_cost, front_accuracy)
        else:
            score = np.ones(len(rows))
        if budget is not None:
            score = score * ndtr((np.log(budget) - self.log_latency[rows]) / latency_sd)
        if focused is not None:  # a focused pick looks inside the focus, the others outside
            inside = self._focus_probability(rows, accuracy_sd, latency_sd)
            score = score * (inside if focused else 1.0 - inside)
        return score

    def _top_score(self, rows: np.ndarray, accuracy_sd: np.ndarray, latency_sd: np.ndarray, feasible: list,
                   budget: float | None) -> np.ndarray | None:
        """P(a candidate is more accurate than every measured network under the latency ceiling, and is
        itself under it): the ceiling is the focus's (the latency quantile of all candidates' predictions)
        and the budget's, whichever is lower. None where no measured network is under the ceiling.

        The probability of non-domination spends its picks where the front has many small steps; the top
        of the front, where a hypervolume is mostly lost, has few networks and surrogates that never
        predict above the best measured value, so it would be reached last. This pick climbs it: each
        new best under the ceiling raises the front's last step, and the non-domination picks then fill
        in the networks between it and the step before."""
        ceiling = self._focus_log_latency_ceiling()
        if budget is not None:
            ceiling = min(ceiling, float(np.log(budget)))
        under = [e["accuracy"] for e in feasible if np.log(e["latency"]) <= ceiling]
        if not under:
            return None
        target = float(self.accuracy_scores.transform([max(under)])[0])
        return (ndtr((self.accuracy_mean[rows] - target) / accuracy_sd)
                * ndtr((ceiling - self.log_latency[rows]) / latency_sd))

    def _focused(self, count: int) -> bool | None:
        """Whether the pick after `count` measurements is focused (None: there is no focus)."""
        settings = self.settings
        if settings.focus_accuracy_quantile is None and settings.focus_latency_quantile is None:
            return None
        return not settings.unfocused_every or count % settings.unfocused_every != settings.unfocused_every - 1

    def _focus_probability(self, rows: np.ndarray, accuracy_sd: np.ndarray, latency_sd: np.ndarray) -> np.ndarray:
        """P(a candidate is in the focus: predicted better than the focus quantile of all candidates'
        predicted accuracy, and faster than that of their predicted latency)."""
        settings, probability = self.settings, np.ones(len(rows))
        if settings.focus_accuracy_quantile is not None:
            floor = float(np.percentile(self.accuracy_mean, settings.focus_accuracy_quantile))
            probability = probability * ndtr((self.accuracy_mean[rows] - floor) / accuracy_sd)
        if settings.focus_latency_quantile is not None:
            ceiling = self._focus_log_latency_ceiling()
            probability = probability * ndtr((ceiling - self.log_latency[rows]) / latency_sd)
        return probability

    def _focus_log_latency_ceiling(self) -> float:
        """The focus's latency quantile of all candidates' predicted log latencies (inf: no such bound)."""
        quantile = self.settings.focus_latency_quantile
        return float(np.percentile(self.log_latency, quantile)) if quantile is not None else np.inf

    def _neighbours(self, parents: list[dict]) -> np.ndarray:
        """Mask of the candidates one free choice away from a parent."""
        if not self.static:
            self._add([c for parent in parents for c in mutations(self.space, parent, self.fixed,
                                                                   np.random.default_rng(0), 0)])
        rows = [self.pool_index[self.space.config_id(parent)] for parent in parents]
        allowed = np.zeros(len(self.pool), bool)
        for start in range(0, len(rows), 16):  # in slices: (candidates x parents x keys) booleans
            differing = (self.codes[:, None, :] != self.codes[rows[start:start + 16]][None, :, :]).sum(axis=2)
            allowed |= (differing == 1).any(axis=1)
        return allowed

    def _random_network(self, taken: set, count: int) -> dict:
        rng = np.random.default_rng([self.seed, count])
        if self.pool:
            free = [i for i, config_id in enumerate(self.pool_ids) if config_id not in taken]
            if free:
                return dict(self.pool[free[int(rng.integers(len(free)))]])
        return self.space.canonical({**self.space.sample(rng), **self.fixed})
