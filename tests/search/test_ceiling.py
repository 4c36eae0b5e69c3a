"""The ceiling of a benchmark column: the noise-aware oracle (exact accuracy, smoothed latency, the same
budget) and the bench's share of it."""

import json
from pathlib import Path

import numpy as np
import pytest

from nas.search.benchmark import TableScore
from nas.search.benchmark_tables import load_benchmark
from nas.search.ceiling import column_ceiling, oracle_order
from nas.search.pareto import pareto_mask
from search_spaces import create_space

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def pixel2():
    return load_benchmark(create_space("nb201"), DATA / "nb201_slice_accuracy.csv", "cifar10_test_acc",
                          DATA / "nb201_slice_latency_ms.csv", "pixel2")


def test_an_oracle_that_knows_the_latencies_exactly_finds_the_whole_front_first(pixel2):
    front = int(pareto_mask(pixel2.accuracy, pixel2.latency).sum())
    order = oracle_order(pixel2, front, latency=pixel2.latency)
    score = TableScore(pixel2).score(order)
    assert len(order) == front and score["front_recall"] == 1.0 and score["hypervolume_ratio"] == pytest.approx(1.0)


def test_the_oracle_spends_exactly_its_budget_layer_by_layer(pixel2):
    noisy = pixel2.latency * np.random.default_rng(0).lognormal(0, 0.2, len(pixel2))  # a poor smoothing
    order = oracle_order(pixel2, 25, latency=noisy)
    ids = [config_id for config_id, _, _ in order]
    assert len(ids) == len(set(ids)) == 25
    first_layer = {pixel2.config_ids[i] for i in np.flatnonzero(pareto_mask(pixel2.accuracy, noisy))}
    assert set(ids[:len(first_layer)]) == first_layer  # its own predicted front comes first
    row = {config_id: index for index, config_id in enumerate(pixel2.config_ids)}
    assert all(latency == pixel2.latency[row[i]] for i, _, latency in order)  # evaluations return the table's
    with pytest.raises(ValueError, match="budget must be at least 1"):
        oracle_order(pixel2, 0, latency=noisy)


def test_the_ceiling_smooths_the_column_with_a_predictor_and_beats_random_picks(pixel2):
    ceiling = column_ceiling(pixel2, [10, 30], TableScore(pixel2))
    assert set(ceiling) == {"10", "30"} and ceiling["30"]["evaluations"] == 30
    generator = np.random.default_rng(0)
    random_scores = []
    for _ in range(5):
        picks = generator.choice(len(pixel2), 30, replace=False)
        random_scores.append(TableScore(pixel2).score(
            [(pixel2.config_ids[i], pixel2.accuracy[i], pixel2.latency[i]) for i in picks])["hypervolume_ratio"])
    assert ceiling["30"]["hypervolume_ratio"] > max(random_scores)


def test_the_bench_reports_each_search_as_a_share_of_its_columns_ceiling(run_script):
    result = run_script("bench_search.py", "--accuracy-table", DATA / "nb201_slice_accuracy.csv",
                        "--latency-table", DATA / "nb201_slice_latency_ms.csv", "--columns", "pixel2,gold_6226",
                        "--seeds", "0", "--budgets", "12", "--samplers", "random", "--ceiling")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for run in report["runs"]:
        at = run["at"]["12"]
        assert at["share_of_ceiling"] == pytest.approx(
            at["hypervolume_ratio"] / report["ceilings"][run["column"]]["12"]["hypervolume_ratio"])
    row = report["summary"]["all"]["random@12"]
    assert row["worst_column_share_of_ceiling"] <= row["share_of_ceiling"]
