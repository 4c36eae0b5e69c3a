"""A three-objective `hwnas search` on a tiny run: every trial, front.json and pareto.csv carry the deployed
file's size, the front is non-dominated in (accuracy, latency, size) and within the size budget."""

import csv
import json

import numpy as np

from nas.cli import main
from nas.search.objectives import pareto_mask_nd


def test_a_three_objective_search_on_a_tiny_run_writes_sizes_everywhere(tmp_path):
    from nas import pipeline
    from nas.training.train import TrainingConfig

    run = tmp_path / "run"
    pipeline.train(run, dataset="digits", space_arguments={"depth_choices": [1, 2], "embed_dim_choices": [48, 64]},
                   training=TrainingConfig(epochs=1, threads=2), progress=False)
    assert main(["search", "--run", str(run), "--trials", "6", "--sampler", "random", "--objectives",
                 "accuracy,latency,size", "--size-mb", "0.4", "--quiet"]) == 0
    front = json.loads((run / "front.json").read_text())
    assert front and all(0 < entry["size_mb"] <= 0.4 for entry in front)
    with open(run / "trials.csv") as handle:
        trials = list(csv.DictReader(handle))
    assert len({row["config_id"] for row in trials}) == 6 and all(float(row["size_mb"]) > 0 for row in trials)
    feasible = [row for row in trials if float(row["size_mb"]) <= 0.4]
    values = np.array([[float(row["val_accuracy"]), float(row["latency_ms"]), float(row["size_mb"])]
                       for row in feasible])
    kept = {row["config_id"] for row, keep in zip(feasible, pareto_mask_nd(values, ["maximize", "minimize",
                                                                                    "minimize"])) if keep}
    assert {entry["config_id"] for entry in front} == kept
