"""Candidate networks for a model-based sampler to screen: the whole space when it is small enough to
enumerate, else uniformly random networks plus one- and two-choice mutations of the given parents.

Every candidate is canonical, carries the fixed choices, and appears once (by config_id).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Mapping

import numpy as np

ENUMERATE_LIMIT = 20_000  # a space with at most this many configurations is screened whole


def space_size(space: Any, fixed: Mapping[str, Any]) -> int:
    return math.prod(len(choice.values) for key, choice in space.choices.items() if key not in fixed)


def enumerate_space(space: Any, fixed: Mapping[str, Any]) -> list[dict]:
    """Every distinct canonical network of `space` with the `fixed` choices."""
    free = [key for key in space.choices if key not in fixed]
    networks: dict[str, dict] = {}
    for values in itertools.product(*(space.choices[key].values for key in free)):
        network = space.canonical({**fixed, **dict(zip(free, values))})
        networks.setdefault(space.config_id(network), network)
    return list(networks.values())


def mutations(space: Any, parent: Mapping[str, Any], fixed: Mapping[str, Any], rng: np.random.Generator,
              count: int) -> list[dict]:
    """Every network one free choice away from `parent`, and `count` random networks two choices away."""
    free = [key for key in space.choices if key not in fixed]
    found = []
    for key in free:
        for value in space.choices[key].values:
            if value != parent[key]:
                found.append({**parent, key: value})
    for _ in range(count):
        first, second = rng.choice(len(free), size=2, replace=False) if len(free) > 1 else (0, 0)
        child = dict(parent)
        for key in {free[first], free[second]}:
            child[key] = space.choices[key].values[int(rng.integers(len(space.choices[key].values)))]
        found.append(child)
    return [space.canonical({**child, **fixed}) for child in found]


def candidate_pool(space: Any, fixed: Mapping[str, Any], rng: np.random.Generator, parents: Iterable[Mapping],
                   random_count: int, mutations_per_parent: int) -> list[dict]:
    """`random_count` random networks and the mutations of `parents`, distinct."""
    networks: dict[str, dict] = {}
    for parent in parents:
        for child in mutations(space, parent, fixed, rng, mutations_per_parent):
            networks.setdefault(space.config_id(child), child)
    for _ in range(random_count):
        child = space.canonical({**space.sample(rng), **fixed})
        networks.setdefault(space.config_id(child), child)
    return list(networks.values())
