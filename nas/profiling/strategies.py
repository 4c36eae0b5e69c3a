"""Which sub-networks to profile: `random` (uniform) or `diverse` (spread over the latency-relevant costs).

Both start from the largest and the smallest network, return `count` distinct configs (fewer only when
the space is smaller) and are reproducible from the seed. Strategies are looked up by name in
`STRATEGIES`; `hwnas profile --strategy` offers its keys.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nas.registry import Registry

CANDIDATES_PER_CONFIG = 20  # `diverse` chooses among this many random candidates per wanted config

# name -> strategy(space, count, seed) -> configs; `hwnas profile --strategy` offers the names
STRATEGIES: Registry = Registry("profiling strategy")


@STRATEGIES.register("random")
def random_configs(space: Any, count: int, seed: int) -> list[dict]:
    """The largest, the smallest and uniformly random configs."""
    return space.sample_distinct(count, np.random.default_rng(seed), include=(space.largest(), space.smallest()))


@STRATEGIES.register("diverse")
def diverse_configs(space: Any, count: int, seed: int) -> list[dict]:
    """Greedy farthest-point selection: from `CANDIDATES_PER_CONFIG * count` random candidates, add one at
    a time the candidate farthest from all chosen so far, in standardized (log) cost features and choices.

    A predictor fitted on such a sample sees the extremes of every cost, where uniform sampling leaves the
    corners of a big space empty (most random networks have middling cost).
    """
    candidates = random_configs(space, CANDIDATES_PER_CONFIG * count, seed)
    features = _standardized_features(space, candidates)
    chosen = list(range(min(2, len(candidates))))  # the largest and the smallest come first
    distance = np.full(len(candidates), np.inf)
    for index in chosen:
        distance = np.minimum(distance, np.linalg.norm(features - features[index], axis=1))
    while len(chosen) < min(count, len(candidates)):
        index = int(np.argmax(distance))
        chosen.append(index)
        distance = np.minimum(distance, np.linalg.norm(features - features[index], axis=1))
    return [candidates[index] for index in chosen]


def _standardized_features(space: Any, configs: list[dict]) -> np.ndarray:
    """Per config: log1p of each cost feature and each numeric choice (strings one-hot), each column
    scaled to zero mean and unit variance (constant columns dropped)."""
    rows = []
    for config in configs:
        row = {f"cost:{name}": float(np.log1p(max(float(value), 0.0)))
               for name, value in space.cost_features(config).items()}
        for key, value in config.items():
            if isinstance(value, str):
                row[f"{key}={value}"] = 1.0
            else:
                row[key] = float(value)
        rows.append(row)
    columns = sorted({column for row in rows for column in row})
    matrix = np.array([[row.get(column, 0.0) for column in columns] for row in rows])
    spread = matrix.std(axis=0)
    kept = spread > 0
    return (matrix[:, kept] - matrix[:, kept].mean(axis=0)) / spread[kept]


