import numpy as np

from nas.search.pareto import hypervolume, non_dominated_ranks, pareto_mask


def test_ranks_and_mask():
    accuracy = np.array([0.9, 0.8, 0.95, 0.85, 0.7])
    latency = np.array([2.0, 1.0, 3.0, 2.5, 1.0])
    assert non_dominated_ranks(accuracy, latency).tolist() == [0, 0, 0, 1, 1]
    assert pareto_mask(accuracy, latency).tolist() == [True, True, True, False, False]


def test_hypervolume_by_hand():
    # points (acc, lat): (0.9, 1) and (0.95, 2); reference (0.8, 3)
    assert np.isclose(hypervolume([0.9, 0.95], [1.0, 2.0], (0.8, 3.0)), 0.1 * 1 + 0.15 * 1)
    assert hypervolume([0.7], [1.0], (0.8, 3.0)) == 0.0
