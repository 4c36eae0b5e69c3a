"""Benchmark mode on the published NAS-Bench-201 tables (and a small table cut from the once-for-all one).
That every registered sampler searches a table is the sampler contract (tests/contracts/test_sampler_contract.py,
on the slice in tests/data)."""

import csv
import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from nas.search.benchmark import TableScore, bench_search, evaluation_order, run_on_table
from nas.search.benchmark_tables import load_benchmark
from nas.cli import main
from nas.search.driver import SearchConfig
from nas.search.study_attrs import PREDICTED_ATTR, PREDICTED_FRONT_ATTR
from search_spaces import create_space

BENCHMARKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks"
ACCURACY, LATENCY = BENCHMARKS / "nb201_accuracy.csv", BENCHMARKS / "nb201_latency_ms.csv"
OFA = BENCHMARKS / "ofa_mbv3_latency_ms.csv"
pytestmark = pytest.mark.skipif(not ACCURACY.exists(), reason=f"benchmark tables not found at {BENCHMARKS}")


@pytest.fixture(scope="module")
def gold():
    return load_benchmark(create_space("nb201"), ACCURACY, "cifar10_test_acc", LATENCY, "gold_6226")


def bench_cli(*arguments):
    output = io.StringIO()
    with redirect_stdout(output):
        code = main(["bench", "search", "--space", "nb201", "--accuracy-table", str(ACCURACY), "--accuracy-column",
                     "cifar10_test_acc", "--latency-table", str(LATENCY), "--latency-column", "gold_6226",
                     "--quiet", "--json", *arguments])
    return code, output.getvalue()


def test_the_reference_point_gives_random_search_about_0_8(gold):
    """The issue's sanity check: 250 random picks score about 0.80 and find almost none of the true front."""
    results = [bench_search(gold, SearchConfig(trials=250, sampler="random", seed=seed)) for seed in range(3)]
    assert 0.72 < np.median([r["hypervolume_ratio"] for r in results]) < 0.88
    assert max(r["front_recall"] for r in results) <= 0.1
    assert results[0]["true_front_size"] == 36
    assert results[0]["reference_point"]["accuracy"] == pytest.approx(np.median(gold.accuracy))
    assert results[0]["reference_point"]["latency_ms"] == pytest.approx(np.percentile(gold.latency, 90))


def test_the_true_front_scores_one(gold):
    scorer = TableScore(gold)
    true_front = [(i, a, l) for i, a, l in zip(gold.config_ids, gold.accuracy, gold.latency)
                  if i in scorer.true_front_ids]
    score = scorer.score(true_front)
    assert score["hypervolume_ratio"] == pytest.approx(1.0) and score["front_recall"] == 1.0


def test_cli_prints_the_fields_the_issue_asks_for():
    code, output = bench_cli("--trials", "20", "--sampler", "random", "--seed", "3", "--latency-ms", "6")
    assert code == 0
    result = json.loads(output)
    assert {"hypervolume_ratio", "front_recall", "true_front_size", "found_front_size", "evaluations", "front",
            "best_feasible_accuracy", "true_best_feasible_accuracy", "regret"} <= set(result)
    assert result["evaluations"] == 20 and len(result["front"]) == result["found_front_size"]
    assert result["front"][0].startswith("|") and result["front"][0].endswith("|")  # arch_str
    assert result["regret"] == pytest.approx(result["true_best_feasible_accuracy"] - result["best_feasible_accuracy"])
    assert result["regret"] >= 0


def test_a_budget_no_network_meets_is_one_line_naming_the_fastest():
    result = subprocess.run([sys.executable, "-m", "nas.cli", "bench", "search", "--space", "nb201",
                             "--accuracy-table", str(ACCURACY), "--accuracy-column", "cifar10_test_acc",
                             "--latency-table", str(LATENCY), "--latency-column", "gold_6226",
                             "--latency-ms", "0.5", "--trials", "5", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "latency budget 0.5 ms cannot be met: the fastest measured network" in result.stderr
    assert "takes 2.6" in result.stderr  # gold_6226's fastest network: 2.665 ms


def test_a_shorter_budget_is_a_prefix_of_a_longer_one(gold):
    """The samplers do not know the budget, so the bench scores budgets 50/100 on the prefix of a 250 run."""
    for sampler in ("random", "guided"):
        long = run_on_table(gold, SearchConfig(trials=18, sampler=sampler, seed=1))
        short = run_on_table(gold, SearchConfig(trials=13, sampler=sampler, seed=1))
        assert evaluation_order(short) == evaluation_order(long)[:13]


def test_guided_beats_random_and_its_front_is_measured(gold):
    guided = run_on_table(gold, SearchConfig(trials=40, sampler="guided", seed=0))
    random = bench_search(gold, SearchConfig(trials=40, sampler="random", seed=0))
    scored = TableScore(gold).score(evaluation_order(guided))
    assert scored["hypervolume_ratio"] > random["hypervolume_ratio"] + 0.1
    evaluated = {t.user_attrs["config_id"] for t in guided.trials if t.values}
    space = gold.space
    assert all(space.config_id(space.from_arch_str(arch)) in evaluated for arch in scored["front"])
    predicted = [t.system_attrs[PREDICTED_ATTR] for t in guided.trials if PREDICTED_ATTR in t.system_attrs]
    assert len(predicted) == 30  # every network after the first ten was chosen on predictions
    assert guided.user_attrs[PREDICTED_FRONT_ATTR]  # for `hwnas report`
    check_latency_intervals(guided)


def check_latency_intervals(study):
    """Each latency predicted before a measurement carries its 90% interval: split-conformal on the log
    residuals of the networks predicted (and measured) before it, unbounded (None) while they are fewer than 9."""
    import math

    from predictors.intervals import Calibration

    past = []
    for trial in sorted((t for t in study.trials if PREDICTED_ATTR in t.system_attrs), key=lambda t: t.number):
        prediction = trial.system_attrs[PREDICTED_ATTR]
        assert prediction["latency_interval_coverage"] == 0.9
        if len(past) < 9:
            assert prediction["latency_low_ms"] is None and prediction["latency_high_ms"] is None
        else:
            half_width = Calibration.from_residuals(past[-50:]).half_width(0.9)
            assert math.isfinite(half_width) and half_width > 0
            assert prediction["latency_low_ms"] == pytest.approx(prediction["latency_ms"] * math.exp(-half_width))
            assert prediction["latency_high_ms"] == pytest.approx(prediction["latency_ms"] * math.exp(half_width))
        past.append(math.log(trial.values[1] / prediction["latency_ms"]))
    assert len(past) > 9


def test_the_report_draws_predicted_against_measured_latency_with_the_intervals(tmp_path):
    from nas.report.plots import prediction_figure, save_png

    rows = [{"latency_ms": 2.0 + index / 10, "predicted_latency_ms": 2.1 + index / 11,
             "predicted_latency_low_ms": None if index < 3 else 1.8 + index / 11,
             "predicted_latency_high_ms": None if index < 3 else 2.4 + index / 11,
             "predicted_latency_interval_coverage": 0.9} for index in range(12)]
    figure = prediction_figure(rows)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    inside = sum(row["predicted_latency_low_ms"] <= row["latency_ms"] <= row["predicted_latency_high_ms"]
                 for row in rows[3:])
    assert f"90% interval: {inside} of 9 hold the measurement" in legend
    assert save_png(figure, tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_guided_with_a_latency_budget_reports_the_regret(gold):
    result = bench_search(gold, SearchConfig(trials=18, sampler="guided", seed=0, latency_ms=6.0))
    assert result["true_best_feasible_accuracy"] == pytest.approx(gold.accuracy[gold.latency <= 6.0].max())
    assert result["best_feasible_accuracy"] is not None and result["regret"] >= 0


@pytest.fixture(scope="module")
def ofa_tables(tmp_path_factory):
    """200 rows of the once-for-all table. It holds latencies only (no public OFA accuracy table is in
    ../shared), so a second real latency column stands in for the accuracy objective: this tests the
    join and the partial-table search, not what the numbers mean."""
    folder = tmp_path_factory.mktemp("ofa")
    with open(OFA, newline="") as handle:
        rows = [row for _, row in zip(range(200), csv.DictReader(handle))]
    for name, column, order in (("accuracy.csv", "titan_rtx_64", -1), ("latency.csv", "2080ti_1", 1)):
        with open(folder / name, "w", newline="") as handle:  # rows in opposite orders: joined by config
            writer = csv.DictWriter(handle, fieldnames=["ks", "e", "d", "r", column])
            writer.writeheader()
            writer.writerows({key: row[key] for key in ("ks", "e", "d", "r", column)} for row in rows[::order])
    return folder


@pytest.mark.parametrize("sampler", ["random", "guided"])
def test_ofa_mbv3_tables_join_on_the_config(ofa_tables, sampler):
    space = create_space("ofa_mbv3")
    table = load_benchmark(space, ofa_tables / "accuracy.csv", "titan_rtx_64", ofa_tables / "latency.csv", "2080ti_1")
    assert len(table) == 200
    study = run_on_table(table, SearchConfig(trials=25, sampler=sampler, seed=0))
    evaluated = [t for t in study.trials if t.values]
    assert {t.user_attrs["config_id"] for t in evaluated} <= set(table.config_ids)
    projected = [t for t in evaluated if "projected_from" in t.user_attrs]
    if sampler == "guided":  # it is given the table's networks as candidates; only the anchors are projected
        assert not [t for t in projected if t.number >= len(space.anchors())]
    else:  # uniform picks are almost never in a 200-row table: they are replaced by the nearest row
        assert len(projected) >= 15
    result = bench_search(table, SearchConfig(trials=25, sampler=sampler, seed=0))
    assert isinstance(result["front"][0], dict) and "resolution" in result["front"][0]
    assert result["true_front_size"] >= 1 and 0 < result["hypervolume_ratio"] <= 1.0 + 1e-9


def test_a_table_without_the_column_is_one_line(tmp_path):
    code = main(["bench", "search", "--space", "nb201", "--accuracy-table", str(ACCURACY), "--accuracy-column",
                 "no_such_column", "--latency-table", str(LATENCY), "--latency-column", "gold_6226", "--quiet"])
    assert code == 2


def test_the_focus_favours_accurate_fast_candidates_and_skips_one_pick_in_four():
    from nas.search.guided.sampler import GuidedSettings
    from nas.search.guided.state import GuidedState

    space = create_space("nb201")
    rng = np.random.default_rng(0)
    candidates = [space.sample(rng) for _ in range(200)]
    state = GuidedState(space, {}, 0, GuidedSettings(), [], candidates)
    count = len(state.pool)
    state.accuracy_mean = np.linspace(-2.0, 2.0, count)  # normal scores
    state.log_latency = np.log(np.linspace(1.0, 10.0, count))[::-1]  # the most accurate are the fastest
    rows = np.array([0, count // 2 + 5, count - 1])
    probability = state._focus_probability(rows, np.full(3, 0.1), np.full(3, 0.05))
    assert probability[0] < 1e-6 and probability[2] > 0.999  # slow and bad; fast and accurate
    state.log_latency = state.log_latency[::-1]  # now the most accurate are the slowest tenth
    assert state._focus_probability(rows, np.full(3, 0.1), np.full(3, 0.01))[2] < 1e-6
    assert [state._focused(n) for n in range(12, 20)] == [True, True, True, False] * 2
    unfocused = GuidedState(space, {}, 0, GuidedSettings(focus_accuracy_quantile=None, focus_latency_quantile=None),
                            [], candidates)
    assert all(unfocused._focused(n) is None for n in range(10, 18))


def test_the_top_pick_reaches_for_the_most_accurate_network_under_the_ceiling():
    from nas.search.guided.sampler import GuidedSettings
    from nas.search.guided.state import GuidedState
    from nas.search.guided.normal_scores import NormalScores

    space = create_space("nb201")
    candidates = [space.sample(np.random.default_rng(seed)) for seed in range(200)]
    state = GuidedState(space, {}, 0, GuidedSettings(), [], candidates)
    count = len(state.pool)
    state.accuracy_scores = NormalScores().fit(np.linspace(80.0, 94.0, 50))
    state.accuracy_mean = np.linspace(-2.0, 2.0, count)  # normal scores: the last candidates are the most accurate
    state.log_latency = np.log(np.linspace(1.0, 10.0, count))  # ... and the slowest
    rows, accuracy_sd, latency_sd = np.arange(count), np.full(count, 0.2), np.full(count, 0.01)
    ceiling = np.exp(np.percentile(state.log_latency, 90))
    measured = [{"accuracy": 93.0, "latency": 5.0}, {"accuracy": 94.0, "latency": 9.9}]  # 9.9 ms: over the ceiling
    score = state._top_score(rows, accuracy_sd, latency_sd, measured, None)
    best = int(np.argmax(score))
    assert np.exp(state.log_latency[best]) <= ceiling  # the most accurate candidates are over it
    assert np.exp(state.log_latency[best]) > 0.97 * ceiling  # and the most accurate under it is taken
    assert score[0] < 1e-6  # a fast, inaccurate candidate cannot beat 93%
    measured.append({"accuracy": 85.0, "latency": 3.0})
    budgeted = state._top_score(rows, accuracy_sd, latency_sd, measured, 4.0)  # a budget lowers the ceiling
    assert 3.8 < np.exp(state.log_latency[int(np.argmax(budgeted))]) <= 4.0
    assert state._top_score(rows, accuracy_sd, latency_sd, measured, 0.5) is None  # nothing measured under it


def test_one_pick_in_four_is_a_top_pick_and_climbs_the_front(gold, monkeypatch):
    """The top picks (every fourth) find more accurate networks under the table's 90th-percentile
    latency than the same search whose fourth pick is the most likely non-dominated one."""
    import nas.search.guided.sampler
    from nas.search.guided.sampler import GuidedSettings

    ceiling = np.percentile(gold.latency, 90)

    def search(top_pick):
        monkeypatch.setattr(nas.search.guided.sampler, "GuidedSettings", lambda **kwargs: GuidedSettings(top_pick=top_pick, **kwargs))
        study = run_on_table(gold, SearchConfig(trials=100, sampler="guided", seed=0))
        return [t for t in sorted(study.trials, key=lambda t: t.number) if PREDICTED_ATTR in t.system_attrs]

    with_top, without = search(True), search(False)
    steps = [t.system_attrs[PREDICTED_ATTR]["step"] for t in with_top]
    assert steps.count("top") == len(steps) // 4 and "global" not in steps
    assert all(t.system_attrs[PREDICTED_ATTR]["focused"] for t in with_top if t.system_attrs[PREDICTED_ATTR]["step"] == "top")
    assert "top" not in [t.system_attrs[PREDICTED_ATTR]["step"] for t in without]

    def best_under_ceiling(picked):
        return max(t.values[0] for t in picked if t.values[1] <= ceiling)

    assert best_under_ceiling(with_top) > best_under_ceiling(without), (best_under_ceiling(with_top), best_under_ceiling(without))


def test_focused_picks_measure_the_part_of_the_front_users_pick_from(gold, monkeypatch):
    """Once the surrogates have seen some networks, the focus makes the picks networks above the space's
    median accuracy and below its 90th-percentile latency more often than without it. The sampler never
    sees those quantiles: it estimates them from its surrogates' predictions over the candidates.
    SearchConfig(focus=False) (`--no-focus`) turns it off: no pick is then marked focused.

    The mechanism is tested with the encoder's features (a space without `function_features`): with
    NAS-Bench-201's path features the unfocused picks of this seed already land in the focus 80% of the
    time (the focused ones 60%), so 50 picks cannot show the focus's effect there."""
    from search_spaces.nb201 import NB201Space
    from search_spaces.space import SearchSpace

    monkeypatch.setattr(NB201Space, "function_features", SearchSpace.function_features)
    floor, ceiling = np.median(gold.accuracy), np.percentile(gold.latency, 90)

    def picks(focus):
        study = run_on_table(gold, SearchConfig(trials=90, sampler="guided", seed=0, focus=focus))
        return [t for t in sorted(study.trials, key=lambda t: t.number) if PREDICTED_ATTR in t.system_attrs]

    def share_in_focus(picked):
        return np.mean([t.values[0] >= floor and t.values[1] <= ceiling for t in picked[40:]])

    focused, unfocused = picks(True), picks(False)
    assert share_in_focus(focused) >= share_in_focus(unfocused) + 0.1, (share_in_focus(focused), share_in_focus(unfocused))
    assert sum(t.system_attrs[PREDICTED_ATTR]["focused"] for t in focused) > len(focused) / 2
    assert not any(t.system_attrs[PREDICTED_ATTR]["focused"] for t in unfocused)


def test_no_focus_reaches_the_guided_sampler_from_the_command_line():
    code, output = bench_cli("--trials", "12", "--sampler", "guided", "--no-focus")
    assert code == 0 and json.loads(output)["focus"] is False
    code, output = bench_cli("--trials", "12", "--sampler", "guided")
    assert code == 0 and json.loads(output)["focus"] is True
    code, output = bench_cli("--trials", "12", "--sampler", "random")
    assert code == 0 and "focus" not in json.loads(output)
