"""Searches restricted to part of a space, compared at the same budget on one supernet.

A `Restriction` holds some choices fixed (the driver's `SearchConfig.fixed`: every block's attention at
softmax, say) and may tie per-block choices together: with `uniform=("mlp_ratio",)` every block takes
block 0's MLP ratio (MatFormer's uniform widths, against its per-block "Mix'n'Match"). Tying is done by
the evaluator's `resolve` (`TiedEvaluator`): the sampler proposes per-block values, the network evaluated
is the tied one, and the budget counts distinct tied networks, so each restricted search spends the same
number of real evaluations.

`compare_fronts` scores the searches against one reference point (the worst accuracy and latency any of
them evaluated): each front's hypervolume, and the lowest latency each reaches at a few matched accuracies.
It also says whether the searches evaluated the same number of networks (`equal_budget`): a front of 6
networks against one of 10 is no comparison at one budget, and `unequal_budgets` names such reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from nas.search.pareto import hypervolume, pareto_mask

MATCHED_ACCURACY_QUANTILES = (0.5, 0.75, 0.9)  # of the pooled accuracies: the levels latencies are matched at


@dataclass(frozen=True)
class Restriction:
    name: str
    fixed: tuple[tuple[str, Any], ...] = ()  # (key, value) held fixed, as SearchConfig.fixed
    uniform: tuple[str, ...] = ()  # per-block choice names ("mlp_ratio") every block takes from block 0


def block_keys(space: Any, choice: str) -> list[str]:
    """The keys `block{i}.<choice>` of `space`, in block order."""
    return [key for key in space.choices if key.startswith("block") and key.endswith(f".{choice}")]


def attention_restrictions(space: Any) -> list[Restriction]:
    """Softmax in every block, linear in every block, and the two mixed freely (the space must offer both)."""
    keys = block_keys(space, "attention")
    if not keys:
        raise ValueError(f"space {space.key} has no attention choice; build it with attention_choices "
                         f"['softmax', 'linear']")
    return [Restriction("softmax", tuple((key, "softmax") for key in keys)),
            Restriction("linear", tuple((key, "linear") for key in keys)),
            Restriction("mixed")]


def width_restrictions(space: Any) -> list[Restriction]:
    """Per-block MLP ratios (Mix'n'Match) against one ratio for every block, both with softmax attention. The
    uniform search samples block 0's ratio alone: the other blocks' are pinned (and tied to it on evaluation),
    so fewer proposals tie to networks already evaluated. The guided sampler's pool holds the proposal, not the
    tied network, so it counts each completed trial's `projected_from` proposal as taken (else it proposed it
    again until the driver's ask limit: 6 of 10 networks on mnist5k). The bench run that still reported 6 of
    10 after that fix ran the sampler from before it (its networks are those of the old sampler's search; the
    recorded commit did not describe the working tree): nothing carries over between searches in one
    process (tests/search/test_restricted.py runs the bench's sequence against each search alone)."""
    softmax = tuple((key, "softmax") for key in block_keys(space, "attention"))
    later = tuple((key, space.choices[key].values[0]) for key in block_keys(space, "mlp_ratio")[1:])
    return [Restriction("per_block_widths", softmax), Restriction("uniform_widths", softmax + later, ("mlp_ratio",))]


class TiedEvaluator:
    """Evaluates, for each proposed config, the config with the `uniform` choices of every block set to
    block 0's (an evaluator's `resolve`, which the driver honours)."""

    def __init__(self, evaluator: Any, space: Any, uniform: Sequence[str]) -> None:
        self.evaluator, self.space, self.uniform = evaluator, space, tuple(uniform)

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        tied = dict(config)
        for choice in self.uniform:
            keys = block_keys(self.space, choice)
            tied.update({key: config[keys[0]] for key in keys})
        return self.space.canonical(tied)

    def evaluate(self, config: Mapping[str, Any]) -> Any:
        return self.evaluator.evaluate(config)


def restricted_search(space: Any, evaluator: Any, restriction: Restriction, trials: int, seed: int = 0,
                      sampler: str = "guided", progress: bool = False) -> list[dict[str, Any]]:
    """One in-memory search under `restriction`: each distinct network evaluated, in order, as
    {"config_id", "config", "accuracy", "latency_ms"}."""
    from nas.search.driver import SearchConfig, open_study, run_search

    config = SearchConfig(trials=trials, sampler=sampler, seed=seed, fixed=restriction.fixed)
    used = TiedEvaluator(evaluator, space, restriction.uniform) if restriction.uniform else evaluator
    study = run_search(open_study(None, config, space), space, used, config, progress=progress)
    return evaluated_networks(study)


def evaluated_networks(study: Any) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    seen: dict[str, dict[str, Any]] = {}
    for trial in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        config_id = trial.user_attrs.get("config_id")
        if config_id is not None and config_id not in seen:
            seen[config_id] = {"config_id": config_id, "config": json.loads(trial.user_attrs.get("config", "{}")),
                               "accuracy": float(trial.values[0]), "latency_ms": float(trial.values[1])}
    return list(seen.values())


def compare_fronts(searches: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Hypervolume of each search's front against one reference point for all, and each front's lowest
    latency at matched accuracies (None where a front does not reach the accuracy)."""
    pooled = [network for networks in searches.values() for network in networks]
    if not pooled:
        raise ValueError("no evaluated networks to compare")
    accuracies = np.array([network["accuracy"] for network in pooled])
    reference = (float(accuracies.min()), float(max(network["latency_ms"] for network in pooled)))
    levels = [float(np.quantile(accuracies, quantile)) for quantile in MATCHED_ACCURACY_QUANTILES]
    evaluated = {name: len(networks) for name, networks in searches.items()}
    report: dict[str, Any] = {"reference": {"accuracy": reference[0], "latency_ms": reference[1]},
                              "matched_accuracies": levels, "evaluated": evaluated,
                              "equal_budget": len(set(evaluated.values())) == 1, "searches": {}}
    for name, networks in searches.items():
        accuracy = np.array([network["accuracy"] for network in networks])
        latency = np.array([network["latency_ms"] for network in networks])
        front = [networks[index] for index in np.flatnonzero(pareto_mask(accuracy, latency))]
        report["searches"][name] = {
            "evaluated": len(networks), "hypervolume": hypervolume(accuracy, latency, reference),
            "front": sorted(({"accuracy": n["accuracy"], "latency_ms": n["latency_ms"], "config_id": n["config_id"]}
                             for n in front), key=lambda point: point["latency_ms"]),
            "latency_ms_at_accuracy": [min((n["latency_ms"] for n in networks if n["accuracy"] >= level), default=None)
                                       for level in levels]}
    return report


def unequal_budgets(comparisons: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line for each `compare_fronts` report (by name) whose searches evaluated unequal numbers of
    networks; empty where every comparison is at one budget."""
    return [f"{name}: not a comparison at one budget, the searches evaluated "
            + ", ".join(f"{search} {count}" for search, count in report["evaluated"].items()) + " networks"
            for name, report in comparisons.items() if not report["equal_budget"]]
