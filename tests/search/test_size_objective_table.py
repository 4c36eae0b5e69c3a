"""`hwnas bench search` with three objectives: sizes from a third table (here the NAS-Bench-201 slice's fp32
weight bytes, params x 4 / 1e6, written as a CSV like the published ones)."""

import csv
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from nas.cli import main
from search_spaces import create_space

DATA = Path(__file__).resolve().parents[1] / "data"
ACCURACY, LATENCY = DATA / "nb201_slice_accuracy.csv", DATA / "nb201_slice_latency_ms.csv"


@pytest.fixture(scope="module")
def size_table(tmp_path_factory):
    space = create_space("nb201")
    path = tmp_path_factory.mktemp("sizes") / "nb201_slice_size_mb.csv"
    with open(ACCURACY) as source, open(path, "w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["arch_idx", "arch_str", "fp32_mb"])
        for row in csv.DictReader(source):
            config = space.config_from_row(row)
            writer.writerow([row["arch_idx"], row["arch_str"], 4 * space.cost_features(config)["params"] / 1e6])
    return path


def bench(*arguments):
    output = io.StringIO()
    with redirect_stdout(output):
        code = main(["bench", "search", "--space", "nb201", "--accuracy-table", str(ACCURACY), "--accuracy-column",
                     "cifar10_test_acc", "--latency-table", str(LATENCY), "--latency-column", "gold_6226",
                     "--quiet", *map(str, arguments)])
    return code, output.getvalue()


def test_a_three_objective_search_on_a_table_scores_its_hypervolume_in_three(size_table):
    code, output = bench("--objectives", "accuracy,latency,size", "--sampler", "nsga2", "--trials", 30,
                         "--size-table", size_table, "--size-column", "fp32_mb")
    assert code == 0
    result = json.loads(output)
    assert result["evaluations"] == 30 and result["size"].endswith("fp32_mb")
    assert 0 < result["hypervolume_3d_ratio"] <= 1 and result["found_front_size_3d"] >= result["found_front_size"]


def test_a_size_objective_without_sizes_is_one_line(capsys):
    code, _ = bench("--objectives", "accuracy,latency,size", "--sampler", "random", "--trials", 5)
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "pass --size-table CSV --size-column COLUMN" in error
