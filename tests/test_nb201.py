"""The nb201 space against the published NAS-Bench-201 tables (../shared/benchmarks)."""

import csv
from pathlib import Path

import pytest

from search_spaces import ConfigError, create_space

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
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
