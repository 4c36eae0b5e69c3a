"""The NAS-Bench-201 cell as a real CIFAR-size network (search_spaces.nb201_network), as the timing script
(scripts/time_nb201_cells.py) builds and exports it."""

import numpy as np
import pytest
import torch

from search_spaces import create_space
from search_spaces.nb201_network import INPUT_SHAPE, build_nb201_network

CELLS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|",  # a dead 1x1 edge
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


@pytest.mark.parametrize("arch_str", CELLS)
def test_the_network_has_the_parameters_the_space_counts_and_exports_to_what_torch_computes(arch_str, tmp_path):
    from nas.models.onnx_export import export_onnx, onnxruntime_logits

    space = create_space("nb201")
    config = space.from_arch_str(arch_str)
    torch.manual_seed(0)
    network = build_nb201_network(space, config)
    assert sum(p.numel() for p in network.parameters()) == space.cost_features(config)["params"]
    images = torch.randn(3, *INPUT_SHAPE)
    with torch.no_grad():
        logits = network(images)
    assert logits.shape == (3, 10)
    path = export_onnx(network, INPUT_SHAPE, tmp_path / "cell.onnx")
    np.testing.assert_allclose(onnxruntime_logits(path, images.numpy(), batch_size=3), logits.numpy(), rtol=1e-4, atol=1e-4)


def test_a_cell_that_carries_nothing_to_its_output_gives_the_same_logits_for_every_image():
    space = create_space("nb201")
    network = build_nb201_network(space, space.from_arch_str(CELLS[-1]))
    with torch.no_grad():
        logits = network(torch.randn(2, *INPUT_SHAPE))
    torch.testing.assert_close(logits[0], logits[1])



def timing_script(name):
    from tests.script_modules import load_script

    return load_script("time_nb201_cells.py", name)


def append_measurement(script, path, arch_idx, arch_str, ratio, baseline, load=1.0):
    """One ort_1t_b1_fp32 row of the long CSV: `ratio` to the reference, whose baseline is `baseline` ms."""
    script.append_row(path, {field: "" for field in script.LONG_FIELDS} | {
        "setting": "ort_1t_b1_fp32", "arch_idx": arch_idx, "arch_str": arch_str,
        "latency_ms": f"{ratio * baseline:.5f}", "ratio": f"{ratio:.5f}", "load1": f"{load:.2f}"})


def wide_column(path):
    """{arch_str: ms} of the wide table's ort_1t_b1_fp32 column."""
    import csv

    with open(path, newline="") as handle:
        return {row["arch_str"]: float(row["ort_1t_b1_fp32"]) for row in csv.DictReader(handle)}


def test_the_wide_table_puts_every_run_of_a_setting_on_its_first_baseline(tmp_path):
    """Two runs of one setting with different reference baselines (the second calibrated afresh, on a host
    whose speed moved): the second run's cells are put on the first run's scale through their ratios, the
    first run's values are kept."""
    script = timing_script("time_nb201_cells_for_test")
    long_path, wide_path = tmp_path / "long.csv", tmp_path / "wide.csv"
    runs = [(0.30953, [(1, "a", 2.0), (2, "b", 3.0)]), (0.40000, [(3, "c", 2.5)])]  # baseline, cells
    for baseline, cells in runs:
        for arch_idx, arch_str, ratio in cells:
            append_measurement(script, long_path, arch_idx, arch_str, ratio, baseline)
    assert script.write_wide(long_path, wide_path, ["ort_1t_b1_fp32"]) == 3
    assert wide_column(wide_path) == pytest.approx({"a": 2.0 * 0.30953, "b": 3.0 * 0.30953,
                                                    "c": 2.5 * 0.30953},  # not 2.5 x 0.4
                                                   abs=1e-5)  # the table's 5 decimals


def test_a_load_limit_drops_crowded_measurements_and_the_latest_measurement_wins(tmp_path):
    """With --max-load, a cell timed on a crowded machine is out of the table and, by the same rule
    (`usable`), not counted as done by a rerun; once re-timed, its new measurement is the one in the table."""
    script = timing_script("time_nb201_cells_for_load_test")
    long_path, wide_path = tmp_path / "long.csv", tmp_path / "wide.csv"

    def timed(arch_str, ratio, load):
        append_measurement(script, long_path, {"a": 1, "b": 2}[arch_str], arch_str, ratio, 0.3, load)

    def table(max_load):
        script.write_wide(long_path, wide_path, ["ort_1t_b1_fp32"], max_load)
        return wide_column(wide_path)

    timed("a", 2.0, 1.2)
    timed("b", 9.0, 15.0)  # crowded
    assert table(None) == pytest.approx({"a": 0.6, "b": 2.7})
    assert table(4.0) == pytest.approx({"a": 0.6})
    assert not script.usable({"load1": "15.00"}, 4.0) and script.usable({"load1": "15.00"}, None)
    assert script.main(["--table-only", "--max-load", "0", "--folder", str(tmp_path)]) == 2
    timed("b", 3.0, 1.5)  # timed again, quiet
    assert table(4.0) == pytest.approx({"a": 0.6, "b": 0.9})
    assert table(None) == pytest.approx({"a": 0.6, "b": 0.9})  # the latest measurement of a cell wins
