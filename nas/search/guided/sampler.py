"""`guided`: the predictor-in-the-loop sampler, an Optuna sampler for (accuracy up, latency down) studies.

Each time the driver asks for a network:

1. The networks measured so far (the study's completed trials; for latency also measurements made
   outside the study) train two surrogates: accuracy (extremely randomised trees, spread = the trees'
   disagreement) and latency (the registered `gbdt` predictor). They are refitted as measurements
   arrive, on a geometric schedule. Accuracy is modelled in normal scores (nas.search.guided.normal_scores: the
   measured accuracies' ranks mapped to standard-normal quantiles), which spreads the dense top where
   the front lies and squeezes the tail of broken networks; the map is monotone, so domination is
   judged the same in either space. Given `sensitivity` (per-block precision sensitivity,
   nas.models.sensitivity), the trees also read each config's summed sensitivity; off by default (it
   did not help on the digits race: benchmarks/joint-race).
2. The surrogates screen the candidates: the whole space when it is small (NAS-Bench-201: 15,625),
   else random networks and mutations of the measured front; or, in benchmark mode, the table's rows.
3. Every candidate's accuracy score and log latency are Gaussian: the mean from the surrogate, the standard
   deviation sqrt((k1 * tree spread)^2 + (k2 * distance)^2), where distance is the number of choices by
   which the candidate differs from its nearest measured network. k1 and k2 are fitted by maximum
   likelihood on the residuals of the networks this sampler predicted before they were measured, so
   the uncertainty is calibrated on this device's data alone (no per-device setting).
4. Three picks in four consider only the one-choice neighbours of the measured networks in the first
   two non-dominated ranks (most Pareto optimal networks are one choice away from another), and
   measure the one most likely to be non-dominated by the measured front (probability of
   non-domination, times the probability of meeting a latency budget).
5. The fourth, the top pick, considers every candidate and measures the one most likely to be more
   accurate than every measured network under the latency ceiling (the focus's 90th percentile of
   the predicted latencies, or the budget if lower), and under it. Non-domination alone spends its
   picks where the front has many small steps and reaches its top last: there the networks are few,
   and the surrogates never predict above the best measured value. Each new best raises the front's
   last step; the neighbour picks then fill in what lies between. On NAS-Bench-201 (13 devices, 5
   seeds) this lifted the median hypervolume ratio at 250 evaluations from 0.983 to 0.995
   (`top_pick=False` gives the earlier global pick: the most likely non-dominated, focused).
6. Most picks are focused: the score is also multiplied by the probability that the candidate is better
   than the median of all candidates' predicted accuracies and faster than the 90th percentile of their
   predicted latencies, the part of the front a user picks from (fast networks that lose to half the
   space, and the slowest tenth, rarely are). One pick in four looks outside the focus instead (times
   the probability of being outside it), so the rest of the front is still found. Both quantiles are
   of the surrogates' predictions over the candidates, never of a table, and the same for every
   device (GuidedSettings; None turns the focus off).

The sampler keeps no state that matters between calls: everything is read from the study (predictions
made before a measurement are stored in the trial's system attrs), so it resumes, and several processes
can share one study (networks running elsewhere are not proposed again). The front it reports is only
ever made of measured networks; the predicted-only front is kept in the study's user attr
`guided_predicted_front` (nas.search.study_attrs) for `hwnas report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import optuna  # this module is imported only when a guided sampler is made

from nas.search.study_attrs import PREDICTED_ATTR, PREDICTED_FRONT_ATTR


@dataclass(frozen=True)
class GuidedSettings:
    initial: int = 10  # networks (the space's anchors included) measured before any model is trusted
    global_every: int = 4  # one pick in this many screens every candidate; the others the front's neighbours
    top_pick: bool = True  # that pick reaches for the top: the candidate most likely to beat the best under the ceiling
    parent_ranks: int = 2  # neighbours of the measured networks in this many non-dominated ranks
    accuracy_refit_growth: float = 0.1  # refit the accuracy surrogate when the measured set grew by this share
    latency_refit_growth: float = 0.3  # ... and the latency surrogate
    trees: int = 32
    focus_accuracy_quantile: float | None = 50.0  # focused picks favour networks predicted above this quantile
    focus_latency_quantile: float | None = 90.0  # ... and below this one of all candidates' predictions
    unfocused_every: int = 4  # one pick in this many looks outside the focus (0: none does), for the rest of the front
    residual_window: int = 50  # the most recent predicted-then-measured networks calibrate the spread
    random_candidates: int = 4000  # when the space is too large to enumerate
    mutations_per_parent: int = 20
    predicted_front_size: int = 40  # predicted-only front networks kept for the report


class GuidedSampler(optuna.samplers.BaseSampler):
    def __init__(self, space: Any, seed: int = 0, fixed: Mapping[str, Any] | None = None,
                 latency_budget: float | None = None, prior_latencies: Sequence = (), candidates: Sequence = (),
                 settings: GuidedSettings = GuidedSettings(), sensitivity: Mapping | None = None) -> None:
        from nas.search.guided.state import GuidedState

        self.space, self.seed, self.settings = space, seed, settings
        self.fixed = dict(fixed or {})
        self.latency_budget = latency_budget
        self.distributions = {key: value for key, value in space.distributions().items() if key not in self.fixed}
        self.state = GuidedState(space, self.fixed, seed, settings, list(prior_latencies), list(candidates),
                                 sensitivity)
        self.fallback = optuna.samplers.RandomSampler(seed=seed)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
        return dict(self.distributions)

    def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
        from optuna.study import StudyDirection

        if not search_space:
            return {}
        if list(study.directions) != [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]:
            raise ValueError("the guided sampler searches (accuracy: maximize, latency: minimize) studies")
        network, prediction = self.state.choose(study, trial.number, self.latency_budget)
        if prediction is not None:
            study._storage.set_trial_system_attr(trial._trial_id, PREDICTED_ATTR, prediction)
        front = self.state.take_predicted_front()
        if front is not None:
            study.set_user_attr(PREDICTED_FRONT_ATTR, front)
        return {key: network[key] for key in search_space}

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self.fallback.reseed_rng()
