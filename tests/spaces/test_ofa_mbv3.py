"""The ofa_mbv3 space against the published once-for-all MobileNetV3 table (../shared/benchmarks)."""

import csv
from pathlib import Path

import pytest

from search_spaces import ConfigError, create_space

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "ofa_mbv3_latency_ms.csv"


@pytest.mark.skipif(not TABLE.exists(), reason=f"{TABLE} is not on this machine")
def test_every_published_row_parses_and_only_active_blocks_count():
    space = create_space("ofa_mbv3")
    with open(TABLE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5000
    for row in rows[:500]:
        config = space.config_from_row(row)
        assert config["resolution"] == int(row["r"])
        depths = [int(value) for value in row["d"].split()]
        kernels = [int(value) for value in row["ks"].split()]
        for block in range(20):
            stage, position = divmod(block, 4)
            if position < depths[stage]:
                assert config[f"block{block}.kernel_size"] == kernels[block]
            else:  # present in the table but inactive: canonical
                assert config[f"block{block}.kernel_size"] == 3
        assert space.cost_features(config)["num_blocks"] == 1 + sum(depths)


def test_costs_grow_with_the_network_and_inactive_blocks_cost_nothing():
    space = create_space("ofa_mbv3")
    largest, smallest = space.cost_features(space.largest()), space.cost_features(space.smallest())
    assert all(largest[key] > smallest[key] for key in ("macs", "params", "activation_elements"))
    config = dict(space.smallest())
    changed = {**config, "block3.kernel_size": 7, "block3.expand_ratio": 6}  # stage 0 depth 2: block 3 inactive
    assert space.config_id(changed) == space.config_id(config)
    assert space.cost_features(changed) == space.cost_features(config)


@pytest.mark.parametrize("change,message", [
    ({"ks": "3 5"}, "column 'ks' must hold 20 space-separated integers"),
    ({"d": "2 2 2 2 x"}, "column 'd' must hold 5"),
    ({"r": "big"}, "column 'r' must be an integer resolution"),
    ({"r": "130"}, "config key 'resolution' = 130 is not allowed"),
])
def test_a_bad_row_names_the_column(change, message):
    row = {"ks": " ".join(["3"] * 20), "e": " ".join(["4"] * 20), "d": "2 3 4 2 3", "r": "160"}
    create_space("ofa_mbv3").config_from_row(row)
    with pytest.raises(ConfigError, match=message):
        create_space("ofa_mbv3").config_from_row({**row, **change})
