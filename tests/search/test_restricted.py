"""Restricted searches at the same budget (nas.search.restricted): attention held at one kind, MLP ratios tied
to one for every block (MatFormer's uniform widths against Mix'n'Match), and their fronts compared; and
scripts/bench_attention.py end to end on a tiny grid."""

import json
import subprocess

import numpy as np
import pytest

from nas.search.driver import Evaluation
from nas.search.restricted import (
    Restriction,
    TiedEvaluator,
    attention_restrictions,
    compare_fronts,
    restricted_search,
    unequal_budgets,
    width_restrictions,
)
from search_spaces import create_space
from tests.script_modules import load_script

SPACE = {"image_size": 8, "depth_choices": [1, 2, 3], "embed_dim_choices": [16, 32], "num_heads_choices": [1, 2],
         "mlp_ratio_choices": [1.0, 2.0, 3.0], "attention_choices": ["softmax", "linear"]}


class CostEvaluator:
    """Deterministic objectives from the space's analytic costs (no training, no timing): accuracy grows with
    the MLP width, latency is the MACs; enough to drive the driver and check what it evaluates."""

    def __init__(self, space):
        self.space, self.evaluated = space, []

    def evaluate(self, config):
        self.evaluated.append(self.space.canonical(config))
        costs = self.space.cost_features(config)
        return Evaluation(accuracy=float(np.log1p(costs["mlp_macs"])), latency_ms=costs["macs"] / 1e6)


def test_the_attention_restrictions_hold_every_block_at_their_kind():
    space = create_space("vit", **SPACE)
    searches = {}
    for restriction in attention_restrictions(space):
        evaluator = CostEvaluator(space)
        searches[restriction.name] = restricted_search(space, evaluator, restriction, trials=8, sampler="random")
        kinds = {config[f"block{i}.attention"] for config in evaluator.evaluated for i in range(config["depth"])}
        assert len(evaluator.evaluated) == len(searches[restriction.name]) == 8  # the same budget
        assert kinds == {"softmax", "linear"} if restriction.name == "mixed" else kinds == {restriction.name}
    with pytest.raises(ValueError, match="no attention choice"):
        attention_restrictions(create_space("vit", image_size=8))


def test_uniform_widths_evaluate_one_mlp_ratio_for_every_block():
    space = create_space("vit", **SPACE)
    per_block, uniform = width_restrictions(space)
    assert uniform.uniform == ("mlp_ratio",) and not per_block.uniform
    tied = TiedEvaluator(CostEvaluator(space), space, ("mlp_ratio",))
    config = {**space.largest(), "block0.mlp_ratio": 1.0, "block1.mlp_ratio": 3.0, "block2.mlp_ratio": 2.0}
    assert {tied.resolve(config)[f"block{i}.mlp_ratio"] for i in range(3)} == {1.0}
    evaluators = {}
    for restriction in (per_block, uniform):
        evaluators[restriction.name] = CostEvaluator(space)
        networks = restricted_search(space, evaluators[restriction.name], restriction, trials=10, sampler="random")
        assert len(networks) == 10
    for config in evaluators["uniform_widths"].evaluated:
        ratios = {config[f"block{i}.mlp_ratio"] for i in range(config["depth"])}
        assert len(ratios) == 1 and all(config[f"block{i}.attention"] == "softmax" for i in range(config["depth"]))
    assert any(len({config[f"block{i}.mlp_ratio"] for i in range(config["depth"])}) > 1
               for config in evaluators["per_block_widths"].evaluated)


def test_the_uniform_search_spends_the_whole_budget_with_the_guided_sampler():
    """The sampler proposes block 0's ratio alone (the others are pinned, then tied), and the guided sampler
    counts a proposal evaluated as another (tied) network as taken: before, it kept proposing ratios that tie
    to networks already evaluated and stopped at the driver's ask limit with 6 of 10 networks, on both spaces
    (bench_attention on mnist5k)."""
    for depths in ([1, 2, 3], [2, 3]):
        space = create_space("vit", **{**SPACE, "depth_choices": depths})
        uniform = width_restrictions(space)[1]
        assert {key for key, _ in uniform.fixed if key.endswith(".mlp_ratio")} == {"block1.mlp_ratio",
                                                                                  "block2.mlp_ratio"}
        _spends_the_budget(space, uniform)


def _spends_the_budget(space, uniform):
    evaluator = CostEvaluator(space)
    networks = restricted_search(space, evaluator, uniform, trials=10, sampler="guided")
    assert len(networks) == len(evaluator.evaluated) == 10
    assert all(len({config[f"block{i}.mlp_ratio"] for i in range(config["depth"])}) == 1
               for config in evaluator.evaluated)


def test_searches_in_sequence_in_one_process_evaluate_what_each_evaluates_alone():
    """scripts/bench_attention.py runs its four searches one after another on one evaluator (one supernet and
    measurement store). Nothing may carry over: each evaluates its whole budget, and the same networks as when
    run alone. A bench run reported the uniform search at 6 of 10 inside that sequence; its networks were
    those of the sampler before it counted tied proposals as taken (with which this fails: 6 of 12)."""
    space = create_space("vit", **{**SPACE, "depth_choices": [2, 3]})
    restrictions = [r for r in attention_restrictions(space) + width_restrictions(space) if r.name != "per_block_widths"]
    shared = CostEvaluator(space)
    in_sequence = {r.name: restricted_search(space, shared, r, trials=12, sampler="guided") for r in restrictions}
    for restriction in restrictions:
        alone = restricted_search(space, CostEvaluator(space), restriction, trials=12, sampler="guided")
        assert len(in_sequence[restriction.name]) == 12, restriction.name
        assert [n["config_id"] for n in in_sequence[restriction.name]] == [n["config_id"] for n in alone]


def test_a_comparison_of_unequal_budgets_is_flagged_and_named():
    """A front of 6 networks against one of 10 was reported as a Mix'n'Match comparison; now the report says
    the budgets differ and the bench names it on stderr (exit status 1)."""
    networks = [{"config_id": str(i), "accuracy": 0.1 * i, "latency_ms": 1.0 + i} for i in range(5)]
    equal = compare_fronts({"per_block_widths": networks[:3], "uniform_widths": networks[2:]})
    unequal = compare_fronts({"per_block_widths": networks, "uniform_widths": networks[:3]})
    assert equal["equal_budget"] and equal["evaluated"] == {"per_block_widths": 3, "uniform_widths": 3}
    assert not unequal["equal_budget"] and unequal["evaluated"] == {"per_block_widths": 5, "uniform_widths": 3}
    assert unequal_budgets({"mix_n_match": equal}) == []
    assert unequal_budgets({"mix_n_match": unequal}) == [
        "mix_n_match: not a comparison at one budget, the searches evaluated per_block_widths 5, uniform_widths 3 "
        "networks"]
    bench = _bench_module()
    report = {"dataset": "mnist5k", "by_seed": [{"seed": 0, "mix_n_match": equal},
                                                {"seed": 1, "mix_n_match": unequal, "attention": equal}]}
    assert [line.split(":")[0] for line in bench.invalid_comparisons([report])] == ["mnist5k, seed 1, mix_n_match"]


def test_the_bench_lists_the_tracked_files_that_differ_from_its_commit(tmp_path):
    """The run that reported 6 of 10 recorded a commit whose sampler was not the one in the working tree."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(git + ["init", "-q", str(tmp_path)], check=True)
    (tmp_path / "state.py").write_text("fixed = True\n")
    (tmp_path / "notes.txt").write_text("untracked\n")
    subprocess.run(git + ["add", "state.py"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "fix"], cwd=tmp_path, check=True)
    bench = _bench_module()
    assert bench.worktree_changes(tmp_path) == []
    (tmp_path / "state.py").write_text("fixed = False\n")
    assert bench.worktree_changes(tmp_path) == [" M state.py"]
    assert bench.worktree_changes(tmp_path / "absent") is None


def _bench_module():
    return load_script("bench_attention.py", "bench_attention_under_test")


def test_fronts_are_scored_against_one_reference_by_hand():
    first = [{"config_id": "a", "accuracy": 0.5, "latency_ms": 1.0},
             {"config_id": "b", "accuracy": 0.9, "latency_ms": 3.0},
             {"config_id": "c", "accuracy": 0.4, "latency_ms": 2.0}]
    second = [{"config_id": "d", "accuracy": 0.8, "latency_ms": 2.0},
              {"config_id": "e", "accuracy": 0.2, "latency_ms": 4.0}]
    report = compare_fronts({"first": first, "second": second})
    assert report["reference"] == {"accuracy": 0.2, "latency_ms": 4.0}
    # first: 0.3 over latency 1..3 and 0.7 over 3..4; second: 0.6 over 2..4
    assert report["searches"]["first"]["hypervolume"] == pytest.approx(0.3 * 2 + 0.7 * 1)
    assert report["searches"]["second"]["hypervolume"] == pytest.approx(0.6 * 2)
    assert [point["config_id"] for point in report["searches"]["first"]["front"]] == ["a", "b"]
    levels = report["matched_accuracies"]  # quantiles 0.5, 0.75, 0.9 of the five accuracies
    assert levels == pytest.approx([0.5, 0.8, 0.86])
    assert report["searches"]["first"]["latency_ms_at_accuracy"] == [1.0, 3.0, 3.0]
    assert report["searches"]["second"]["latency_ms_at_accuracy"] == [2.0, 2.0, None]


@pytest.mark.slow
def test_bench_attention_times_both_kinds_and_names_the_crossover(tmp_path, run_script):
    profile = tmp_path / "fast.yaml"
    profile.write_text("name: fast\nbackend: onnxruntime\nthreads: 1\nprecisions: [fp32]\n"
                       "warmup_ms: 1\nwarmup_runs: 1\nmin_repeats: 5\nmin_time_ms: 1\n")
    result = run_script("bench_attention.py", "--profile", profile, "--tokens", "4", "8", "--embed", "16")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"date", "command", "commit", "machine"} <= set(report) and report["search"] == []
    assert [(row["tokens"], row["embed_dim"]) for row in report["latency"]] == [(4, 16), (8, 16)]
    assert all(row["softmax_ms"] > 0 and row["linear_ms"] > 0 for row in report["latency"])
    assert report["latency"][1]["softmax_attention_macs"] == 2 * 8 * 8 * 16
    assert report["latency"][1]["linear_attention_macs"] == 2 * 8 * 16 * 16 + 8 * 16
    assert set(report["crossover_tokens"]) == {"16"}
    bad = run_script("bench_attention.py", "--embed", "20")
    assert bad.returncode == 2 and "--embed" in bad.stderr
