import numpy as np
import pytest
from scipy.special import ndtri

from nas.search.guided.normal_scores import NormalScores


def test_scores_are_normal_quantiles_of_the_ranks_and_invert():
    values = np.array([10.0, 91.0, 93.5, 92.0, 94.2, 90.0])
    scores = NormalScores().fit(values)
    ranks = np.array([1, 3, 5, 4, 6, 2])
    assert np.allclose(scores.transform(values), ndtri((ranks - 0.5) / 6))
    assert np.allclose(scores.inverse_transform(scores.transform(values)), values)
    # in between the knots, a monotone interpolation, and back
    inside = np.array([50.0, 92.7, 94.0])
    assert np.all(np.diff(scores.transform(inside)) > 0)
    assert np.allclose(scores.inverse_transform(scores.transform(inside)), inside)


def test_the_top_is_spread_and_the_broken_tail_compressed():
    """Why the guided sampler models accuracy by rank: 0.5 points at the top count for more than 80 at
    the bottom."""
    values = np.concatenate([[10.0, 12.0], np.linspace(85, 94, 40)])
    scores = NormalScores().fit(values)
    top = np.diff(scores.transform([93.5, 94.0]))[0]
    tail = np.diff(scores.transform([10.0, 85.0]))[0]
    assert top > 0.5 * tail


def test_beyond_the_fitted_range_it_stays_monotone_and_invertible():
    scores = NormalScores().fit([1.0, 2.0, 2.0, 3.0, 5.0])  # ties share their average rank
    assert scores.transform([2.0])[0] == pytest.approx(ndtri((2.5 - 0.5) / 5))
    outside = np.array([-4.0, 0.5, 5.5, 9.0])
    mapped = scores.transform(outside)
    assert np.all(np.diff(mapped) > 0) and mapped[0] < scores.transform([1.0])[0] and mapped[-1] > scores.transform([5.0])[0]
    assert np.allclose(scores.inverse_transform(mapped), outside)


def test_one_value_and_no_value():
    scores = NormalScores().fit([7.0, 7.0])
    assert scores.transform([7.0, 8.0]).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="at least one"):
        NormalScores().fit([])
