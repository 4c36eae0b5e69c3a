"""What a candidate is worth measuring, given the measured front, in (accuracy up, cost down).

The measured front is a staircase: sorted by cost, each step the best accuracy at that cost or less.
Predictions are Gaussian and independent: accuracy N(mean, sd), cost N(mean, sd) (the guided sampler
passes log latency as the cost). All functions are vectorised over candidates.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from nas.search.pareto import pareto_mask


def staircase(accuracy: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cost, accuracy) of the front, by ascending cost (so ascending accuracy)."""
    accuracy, cost = np.asarray(accuracy, float), np.asarray(cost, float)
    mask = pareto_mask(accuracy, cost)
    order = np.argsort(cost[mask], kind="stable")
    return cost[mask][order], accuracy[mask][order]


def probability_dominated(accuracy_mean: np.ndarray, accuracy_sd: np.ndarray, cost_mean: np.ndarray,
                          cost_sd: np.ndarray, front_cost: np.ndarray, front_accuracy: np.ndarray) -> np.ndarray:
    """P(a candidate is dominated by the front): the sum over the front's cost steps [c_j, c_j+1) of
    P(cost in the step) * P(accuracy <= a_j)."""
    edges = np.append(front_cost, np.inf)
    cost_cdf = ndtr((edges[None, :] - cost_mean[:, None]) / cost_sd[:, None])
    in_step = cost_cdf[:, 1:] - cost_cdf[:, :-1]
    below = ndtr((front_accuracy[None, :] - accuracy_mean[:, None]) / accuracy_sd[:, None])
    return (in_step * below).sum(axis=1)


def hypervolume_improvement(accuracy: np.ndarray, cost: np.ndarray, front_cost: np.ndarray,
                            front_accuracy: np.ndarray, reference: tuple[float, float]) -> np.ndarray:
    """Area a point (accuracy, cost) adds to the front's dominated area, bounded by `reference` =
    (accuracy floor, cost ceiling). Works on any array shape of points."""
    floor, ceiling = reference
    starts = np.concatenate([[-np.inf], front_cost])  # step j covers [starts[j], starts[j+1]) at level levels[j]
    ends = np.concatenate([front_cost, [ceiling]])
    levels = np.concatenate([[floor], front_accuracy])
    accuracy, cost = np.asarray(accuracy, float), np.asarray(cost, float)
    width = np.clip(np.minimum(ends, ceiling) - np.maximum(starts, cost[..., None]), 0.0, None)
    return (np.clip(accuracy[..., None] - levels, 0.0, None) * width).sum(axis=-1)


def expected_hypervolume_improvement(accuracy_mean: np.ndarray, accuracy_sd: np.ndarray, cost_mean: np.ndarray,
                                     cost_sd: np.ndarray, front_cost: np.ndarray, front_accuracy: np.ndarray,
                                     reference: tuple[float, float], draws: np.ndarray) -> np.ndarray:
    """Monte-Carlo EHVI: the mean improvement over `draws` (an (n, 2) array of standard normals, shared
    by all candidates so that their ranking is not noise)."""
    accuracy = accuracy_mean[None, :] + draws[:, :1] * accuracy_sd[None, :]
    cost = cost_mean[None, :] + draws[:, 1:] * cost_sd[None, :]
    return hypervolume_improvement(accuracy, cost, front_cost, front_accuracy, reference).mean(axis=0)
