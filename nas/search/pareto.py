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
        front = pareto_mask(accuracy[remaining], latency[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return ranks


def pareto_mask(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """True for the points no other point dominates (at least as accurate and as fast, better in one).
    Equal points are all kept. O(n log n): a sweep in order of latency."""
    accuracy, latency = np.asarray(accuracy, float), np.asarray(latency, float)
    if not len(accuracy):
        return np.zeros(0, bool)
    order = np.lexsort((-accuracy, latency))  # fastest first; most accurate first among equal latencies
    acc, lat = accuracy[order], latency[order]
    group_start = np.r_[True, lat[1:] != lat[:-1]]
    group = np.cumsum(group_start) - 1
    group_best = np.maximum.reduceat(acc, np.flatnonzero(group_start))  # best accuracy at each latency
    best_before = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]  # best at strictly lower latency
    keep = (acc > best_before[group]) & (acc >= group_best[group])
    mask = np.zeros(len(accuracy), bool)
    mask[order] = keep
    return mask


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
