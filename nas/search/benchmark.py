"""Benchmark mode: a search on a published table, scored against the table's true Pareto front.

Each trial "measures" a network by looking it up (nas.search.benchmark_tables.TableEvaluator); the budget
counts distinct networks looked up. The score, in (accuracy up, latency down):

* `hypervolume_ratio`: hypervolume of the found front / that of the true front, with the reference
  point (median accuracy of the table, 90th-percentile latency of the table). With the worst point as
  reference 250 random picks already score 0.94-0.99 on NAS-Bench-201; with this one about 0.8.
* `front_recall`: the share of the true front's networks that are on the found front.
* with a latency budget: the best accuracy found within it, the table's best within it, and the regret.

The samplers never see the table's statistics: only the networks they evaluated.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas.search.benchmark_tables import BenchmarkTable, TableEvaluator
from nas.errors import HwnasError
from nas.search.pareto import hypervolume, pareto_mask
from nas.search.driver import SearchConfig, open_study, run_search

REFERENCE_ACCURACY_QUANTILE, REFERENCE_LATENCY_QUANTILE = 50, 90


def reference_point(table: BenchmarkTable) -> tuple[float, float]:
    return (float(np.percentile(table.accuracy, REFERENCE_ACCURACY_QUANTILE)),
            float(np.percentile(table.latency, REFERENCE_LATENCY_QUANTILE)))


def check_budget(table: BenchmarkTable, latency_ms: float | None) -> None:
    """A budget below the table's fastest network is refused, naming that network's latency."""
    if latency_ms is not None and latency_ms < table.latency.min():
        fastest = int(np.argmin(table.latency))
        raise HwnasError(f"latency budget {latency_ms} ms cannot be met: the fastest measured network "
                         f"({table.config_ids[fastest]}) takes {table.latency[fastest]:.4f} ms in "
                         f"{table.sources['latency']}")


def run_on_table(table: BenchmarkTable, config: SearchConfig, storage: str | None = None,
                 progress: bool = False) -> Any:
    """The study after a search of `table` with `config` (in memory unless `storage` is given)."""
    study = open_study(storage, config, table.space, candidates=table.configs)
    return run_search(study, table.space, TableEvaluator(table), config, progress=progress)


def evaluation_order(study: Any) -> list[tuple[str, float, float]]:
    """(config_id, accuracy, latency) of each distinct network, in the order it was first evaluated."""
    from optuna.trial import TrialState

    seen: dict[str, tuple[str, float, float]] = {}
    for trial in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        config_id = trial.user_attrs.get("config_id")
        if config_id is not None and config_id not in seen:
            seen[config_id] = (config_id, float(trial.values[0]), float(trial.values[1]))
    return list(seen.values())


class TableScore:
    """The true front and reference point of a table, and the score of any set of evaluated networks."""

    def __init__(self, table: BenchmarkTable, latency_ms: float | None = None) -> None:
        self.table, self.latency_ms = table, latency_ms
        self.reference = reference_point(table)
        true_front = pareto_mask(table.accuracy, table.latency)
        self.true_front_ids = {table.config_ids[i] for i in np.flatnonzero(true_front)}
        self.true_hypervolume = hypervolume(table.accuracy[true_front], table.latency[true_front], self.reference)
        feasible = table.latency <= latency_ms if latency_ms is not None else np.ones(len(table), bool)
        self.true_best_feasible = float(table.accuracy[feasible].max()) if feasible.any() else None
        self.row = {config_id: row for row, config_id in enumerate(table.config_ids)}

    def score(self, evaluated: Sequence[tuple[str, float, float]]) -> dict[str, Any]:
        ids = [e[0] for e in evaluated]
        accuracy = np.array([e[1] for e in evaluated])
        latency = np.array([e[2] for e in evaluated])
        mask = pareto_mask(accuracy, latency)
        front = sorted((i for i in np.flatnonzero(mask)), key=lambda i: (latency[i], -accuracy[i]))
        found = {ids[i] for i in front}
        result = {
            "evaluations": len(evaluated),
            "hypervolume_ratio": hypervolume(accuracy[mask], latency[mask], self.reference) / self.true_hypervolume,
            "front_recall": len(found & self.true_front_ids) / len(self.true_front_ids),
            "true_front_size": len(self.true_front_ids),
            "found_front_size": len(front),
            "front": [self._describe(ids[i]) for i in front],
        }
        if self.latency_ms is not None:
            feasible = accuracy[latency <= self.latency_ms]
            best = float(feasible.max()) if len(feasible) else None
            result.update(best_feasible_accuracy=best, true_best_feasible_accuracy=self.true_best_feasible,
                          regret=None if best is None or self.true_best_feasible is None
                          else self.true_best_feasible - best)
        return result

    def _describe(self, config_id: str) -> Any:
        config = self.table.configs[self.row[config_id]]
        space = self.table.space
        return space.to_arch_str(config) if hasattr(space, "to_arch_str") else dict(config)


def size_score(table: BenchmarkTable, study: Any, reference: tuple[float, float]) -> dict[str, Any]:
    """The three-objective score: hypervolume in (accuracy, latency, size) of the networks evaluated, over the
    table's own, with the reference point extended by the table's 90th-percentile size."""
    from optuna.trial import TrialState

    from nas.search.objectives import DIRECTIONS, hypervolume_nd, pareto_mask_nd

    directions = [DIRECTIONS[name] for name in ("accuracy", "latency", "size")]
    point = (*reference, float(np.percentile(table.size, REFERENCE_LATENCY_QUANTILE)))
    everything = np.column_stack([table.accuracy, table.latency, table.size])
    true = hypervolume_nd(everything[pareto_mask_nd(everything, directions)], directions, point)
    found = {t.user_attrs["config_id"]: tuple(t.values) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,)) if "config_id" in t.user_attrs}
    values = np.array(list(found.values()), float).reshape(-1, 3)
    mask = pareto_mask_nd(values, directions)
    return {"size": table.sources["size"], "reference_point_size_mb": point[2], "found_front_size_3d": int(mask.sum()),
            "hypervolume_3d_ratio": hypervolume_nd(values[mask], directions, point) / true if true else None}


def bench_search(table: BenchmarkTable, config: SearchConfig, storage: str | None = None,
                 checkpoints: Sequence[int] = (), progress: bool = False) -> dict[str, Any]:
    """Search `table`, score the result; `checkpoints` adds the score after the first k evaluations (the
    samplers do not know the budget, so this equals a search with budget k)."""
    if config.with_size and table.size is None:
        raise HwnasError("the size objective or budget needs the networks' sizes: pass --size-table CSV "
                         "--size-column COLUMN (MB per network)")
    study = run_on_table(table, config, storage, progress)
    order = evaluation_order(study)
    scorer = TableScore(table, config.latency_ms)
    trials = len(study.trials)
    result = {"space": table.space.name, "sampler": config.sampler, "seed": config.seed, "trials_asked": trials,
              **({"focus": config.focus} if config.sampler == "guided" else {}),
              "accuracy": table.sources["accuracy"], "latency": table.sources["latency"],
              "latency_ms": config.latency_ms, "table_networks": len(table),
              "reference_point": {"accuracy": scorer.reference[0], "latency_ms": scorer.reference[1]},
              **scorer.score(order)}
    if "size" in config.objectives:
        result.update(size_score(table, study, scorer.reference), size_mb=config.size_mb)
    if checkpoints:
        result["at"] = {str(k): {key: value for key, value in scorer.score(order[:k]).items() if key != "front"}
                        for k in checkpoints if k <= len(order)}
    return result
