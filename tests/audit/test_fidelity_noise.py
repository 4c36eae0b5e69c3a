"""The audit's account of its own truth's noise (nas.audit.fidelity.standalone_noise): the spread of several
stand-alone trainings of each network, and the mean |gap| that spread alone gives a supernet without error."""

import math

import numpy as np
import pytest

from nas.audit.fidelity import standalone_noise, summarize


def rows_of(accuracies, inherited=None):
    return [{"inherited_test_accuracy": float(np.mean(values)) if inherited is None else inherited[i],
             "standalone_test_accuracy": float(np.mean(values)), "standalone_test_accuracies": list(values),
             "on_front": True} for i, values in enumerate(accuracies)]


def test_one_training_a_network_has_no_noise_estimate():
    assert standalone_noise(rows_of([[0.9], [0.8]])) is None
    assert standalone_noise([{"standalone_test_accuracy": 0.9}]) is None  # audits from before --repeats
    assert summarize(rows_of([[0.9], [0.8]]))["standalone_noise"] is None


def test_the_spread_is_pooled_over_the_networks_in_points():
    noise = standalone_noise(rows_of([[0.90, 0.92], [0.80, 0.80, 0.83]]))
    first, second = np.var([90, 92], ddof=1), np.var([80, 80, 83], ddof=1)
    assert noise["repeats"] == 2  # the fewest any network had
    assert noise["sd_points"] == pytest.approx(math.sqrt((first + second) / 2))
    assert noise["largest_sd_points"] == pytest.approx(math.sqrt(max(first, second)))
    assert noise["mean_abs_gap_floor_points"] == pytest.approx(noise["sd_points"] * math.sqrt(2 / math.pi / 2))


def test_the_floor_is_what_a_supernet_without_error_shows():
    """Networks whose supernet accuracy is exactly their expected stand-alone accuracy, trained `repeats`
    times with seed noise of a known sd: the audit's mean |gap| over many such audits is the floor it
    predicts from the trainings' spread."""
    rng = np.random.default_rng(0)
    truth, sd, repeats, networks = np.linspace(0.85, 0.97, 12), 0.012, 3, 12
    gaps, floors = [], []
    for _ in range(400):
        trainings = truth[:, None] + rng.normal(0, sd, (networks, repeats))
        summary = summarize(rows_of(trainings, inherited=list(truth)))
        gaps.append(summary["mean_abs_gap_points"])
        floors.append(summary["standalone_noise"]["mean_abs_gap_floor_points"])
    expected = 100 * sd * math.sqrt(2 / math.pi) / math.sqrt(repeats)
    assert np.mean(gaps) == pytest.approx(expected, rel=0.05)
    assert np.median(floors) == pytest.approx(expected, rel=0.1)  # the estimate from the spread agrees
