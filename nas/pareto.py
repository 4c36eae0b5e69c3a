"""Pareto fronts in (accuracy up, latency down)."""

from __future__ import annotations

import numpy as np


def non_dominated_ranks(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Rank 0 = the Pareto front, rank 1 = the front once rank 0 is removed, and so on."""
    accuracy, latency = np.asarray(accuracy, float), np.asarray(latency, float)
    ranks = np.full(len(accuracy), -1)
    remaining = np.arange(len(accuracy))
    rank = 0
    while len(remaining):
        acc, lat = accuracy[remaining], latency[remaining]
        dominated = np.array([np.any((acc >= a) & (lat <= l) & ((acc > a) | (lat < l))) for a, l in zip(acc, lat)])
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks


def pareto_mask(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    return non_dominated_ranks(accuracy, latency) == 0


def hypervolume(accuracy: np.ndarray, latency: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by the points and bounded by `reference` = (accuracy floor, latency ceiling)."""
    floor, ceiling = reference
    points = sorted((lat, acc) for acc, lat in zip(accuracy, latency) if acc > floor and lat < ceiling)
    area, best = 0.0, floor
    for index, (lat, acc) in enumerate(points):
        best = max(best, acc)
        next_latency = points[index + 1][0] if index + 1 < len(points) else ceiling
        area += (best - floor) * (next_latency - lat)
    return area
