"""Published benchmark tables as a search's ground truth: an accuracy column and a latency column, each
from a CSV whose rows the space parses (`space.config_from_row`), joined on the network (`config_id`).

`TableEvaluator` "measures" a network by looking it up. A table may cover only part of the space (the
once-for-all table holds 5,000 of ~10^19 networks); a proposed network that is not in the table is
replaced by the table's nearest network (fewest differing choices, first in table order on ties), and
the trial records that it was projected. Model-based samplers are given the table's networks as their
candidates, so they never propose one outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nas.errors import HwnasError
from nas.search.driver import Evaluation


@dataclass(frozen=True)
class BenchmarkTable:
    space: Any
    configs: tuple  # canonical configs, one per distinct network, in the accuracy table's order
    config_ids: tuple
    accuracy: np.ndarray
    latency: np.ndarray
    sources: Mapping[str, str]  # where each objective came from, e.g. {"accuracy": "file.csv:cifar10_test_acc"}
    size: np.ndarray | None = None  # MB per network, from a third table (the objective or budget `size`)

    def __len__(self) -> int:
        return len(self.configs)


def load_benchmark(space: Any, accuracy_table: str | Path, accuracy_column: str, latency_table: str | Path,
                   latency_column: str, size_table: str | Path | None = None,
                   size_column: str | None = None) -> BenchmarkTable:
    """Join the tables on config_id (the networks in all). A network listed several times in one table gets
    the mean of its values. `size_table` / `size_column`: the networks' file sizes in MB (optional)."""
    from predictors.table import read_table

    accuracy = _by_config_id(space, *read_table(accuracy_table, space, accuracy_column))
    latency = _by_config_id(space, *read_table(latency_table, space, latency_column))
    size = _by_config_id(space, *read_table(size_table, space, size_column)) if size_table is not None else None
    shared = [config_id for config_id in accuracy if config_id in latency and (size is None or config_id in size)]
    if not shared:
        raise HwnasError(f"no network is in both {str(accuracy_table)!r} and {str(latency_table)!r} "
                         f"(joined on the {space.name} config)")
    return BenchmarkTable(space=space, configs=tuple(accuracy[i][0] for i in shared), config_ids=tuple(shared),
                          accuracy=np.array([accuracy[i][1] for i in shared]),
                          latency=np.array([latency[i][1] for i in shared]),
                          size=None if size is None else np.array([size[i][1] for i in shared]),
                          sources={"accuracy": f"{accuracy_table}:{accuracy_column}",
                                   "latency": f"{latency_table}:{latency_column}",
                                   **({"size": f"{size_table}:{size_column}"} if size is not None else {})})


def _by_config_id(space: Any, configs: list[dict], values: np.ndarray) -> dict[str, tuple[dict, float]]:
    grouped: dict[str, list] = {}
    for config, value in zip(configs, values):
        canonical = space.canonical(config)
        grouped.setdefault(space.config_id(canonical), [canonical, []])[1].append(float(value))
    return {config_id: (config, float(np.mean(found))) for config_id, (config, found) in grouped.items()}


class TableEvaluator:
    """Looks networks up in a BenchmarkTable; counts the lookups of distinct networks."""

    def __init__(self, table: BenchmarkTable) -> None:
        self.table = table
        self.index = {config_id: row for row, config_id in enumerate(table.config_ids)}
        self.keys = list(table.space.choices)
        self.codes = np.array([[self._code(key, config[key]) for key in self.keys] for config in table.configs])

    def _code(self, key: str, value: Any) -> int:
        return self.table.space.choices[key].values.index(value)

    def resolve(self, config: Mapping[str, Any]) -> dict:
        """`config` if the table holds it, else the table's nearest network."""
        space = self.table.space
        if space.config_id(config) in self.index:
            return space.canonical(config)
        canonical = space.canonical(config)
        code = np.array([self._code(key, canonical[key]) for key in self.keys])
        return dict(self.table.configs[int(np.argmin((self.codes != code).sum(axis=1)))])

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation:
        row = self.index.get(self.table.space.config_id(config))
        if row is None:
            raise HwnasError(f"network {self.table.space.config_id(config)} is not in the benchmark table")
        size = None if self.table.size is None else float(self.table.size[row])
        return Evaluation(float(self.table.accuracy[row]), float(self.table.latency[row]), {"latency_source": "table"},
                          size_mb=size)
