"""The nb201 space against the published NAS-Bench-201 tables (../shared/benchmarks)."""

import csv
from pathlib import Path

import pytest

from search_spaces import ConfigError, create_space

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
ACCURACY_TABLE = BENCHMARKS / "nb201_accuracy.csv"
needs_table = pytest.mark.skipif(not ACCURACY_TABLE.exists(), reason=f"{ACCURACY_TABLE} is not on this machine")
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table():
    with open(ACCURACY_TABLE, newline="") as handle:
        return list(csv.DictReader(handle))


@needs_table
def test_every_published_arch_str_parses_and_prints_back(table):
    space = create_space("nb201")
    assert len(table) == 15625 == len(space.choices["node1.from_input"].values) ** 6
    ids = set()
    for row in table:
        config = space.from_arch_str(row["arch_str"])
        assert space.to_arch_str(config) == row["arch_str"]
        ids.add(space.config_id(config))
    assert len(ids) == 15625  # every table row is its own config


@needs_table
def test_live_edges_separate_the_cells_that_cut_the_input_off(table):
    # The published accuracies: a cell with no path from input to output is a constant classifier (10%).
    space = create_space("nb201")
    dead = [float(row["cifar10_test_acc"]) for row in table if not space.live_edges(space.from_arch_str(row["arch_str"]))]
    live = [float(row["cifar10_test_acc"]) for row in table if space.live_edges(space.from_arch_str(row["arch_str"]))]
    assert len(dead) == 341 and set(dead) == {10.0}
    assert min(live) > 40.0


def test_structure_and_costs():
    space = create_space("nb201")
    config = space.from_arch_str(EXAMPLE)
    assert config["node2.from_node1"] == "avg_pool_3x3" and config["node3.from_node2"] == "skip_connect"
    assert space.live_edges(config) == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    # node 2 fed only by dead edges, and nothing from node 1 reaches the output: those edges are not live
    partial = space.from_arch_str("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    assert space.live_edges(partial) == [(0, 3)]
    largest = space.cost_features(space.largest())
    # NAS-Bench-201's all-3x3 network: 220.11 M FLOPs (multiply-accumulates) and 1.53 M parameters
    assert largest["macs"] == pytest.approx(220.11e6, rel=1e-3)
    assert largest["params"] == pytest.approx(1.531e6, rel=1e-3)
    smallest = space.cost_features(space.smallest())
    assert smallest["connected"] == 0.0 and smallest["cell_macs"] == 0.0
    assert space.cost_features(partial)["live_skip_connect"] == 1.0


@pytest.mark.parametrize("arch_str,message", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "expected 3 nodes"),
    ("|conv_5x5~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
     "unknown operation 'conv_5x5'; allowed: none, skip_connect"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~1|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
     "must come from node 0"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "node 2 must list 2 edge"),
])
def test_a_bad_arch_str_names_the_problem(arch_str, message):
    with pytest.raises(ConfigError, match=message):
        create_space("nb201").from_arch_str(arch_str)


def test_the_functional_config_sets_dead_edges_to_none_and_keeps_the_live_costs():
    space = create_space("nb201")
    partial = space.from_arch_str("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    functional = space.functional_config(partial)
    # node 2 is fed from node 1 (live from the input) and feeds the output: only (0,2) and (1,3) are none
    assert functional == partial
    cut = space.from_arch_str("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    functional = space.functional_config(cut)  # node 1 receives nothing; node 2 reaches nothing
    assert space.to_arch_str(functional) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert space.functional_config(functional) == functional
    live_costs = ("macs", "params", "live_edges", "live_skip_connect", "live_nor_conv_3x3", "live_nor_conv_1x1")
    assert all(space.cost_features(cut)[k] == space.cost_features(functional)[k] for k in live_costs)
    assert space.has_functional_view and not create_space("vit").has_functional_view


@needs_table
def test_networks_with_one_functional_config_have_close_published_accuracies(table):
    """The published table trained every cell on its own; cells that compute the same function differ
    by training noise only, much less than two random cells."""
    import numpy as np

    space = create_space("nb201")
    groups: dict = {}
    for row in table:
        config = space.from_arch_str(row["arch_str"])
        if space.live_edges(config):
            key = tuple(space.functional_config(config).values())
            groups.setdefault(key, []).append(float(row["cifar10_test_acc"]))
    assert 4000 < len(groups) < 10000  # 15,625 cells, far fewer functions
    within = np.median([abs(a - b) for values in groups.values() for a, b in zip(values, values[1:])])
    every = np.array([value for values in groups.values() for value in values])
    between = np.median(np.abs(np.random.default_rng(0).permutation(every) - every))
    assert within < between / 3, (within, between)


@needs_table
def test_function_features_are_equal_for_isomorphic_cells_and_group_close_accuracies(table):
    """Every wiring of one cell function (x + conv3(conv3(x)) has 65 in the table) gets the same path
    features; the published accuracies of cells sharing them differ by training noise only."""
    import numpy as np

    space = create_space("nb201")
    groups: dict = {}
    for row in table:
        config = space.from_arch_str(row["arch_str"])
        key = tuple(space.function_features(config).values())
        groups.setdefault(key, []).append(float(row["cifar10_test_acc"]))
    functional = {tuple(space.functional_config(space.from_arch_str(row["arch_str"])).values()) for row in table}
    assert len(groups) < 0.6 * len(functional)  # far fewer functions than live-edge patterns (5,116 of 9,445)
    residual_noise = np.median([np.std(values) for values in groups.values() if len(values) > 1])
    assert residual_noise < 0.5, residual_noise
    conv_conv = space.function_features(space.from_arch_str(
        "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"))
    assert len(groups[tuple(conv_conv.values())]) == 65
    assert conv_conv["path.c3-c3"] == conv_conv["path.identity"] == 1 and conv_conv["paths"] == 2
