"""Held-out quality of every registered latency predictor on a CSV of measured configs.

The CSV has a `config` column (JSON) and a `latency_ms` column, as `collect_vit_latencies.py` writes.
Each split holds out `--test-fraction` of the configs; the quality is the mean over `--splits` splits.

    .venv/bin/python scripts/evaluate_latency_predictors.py /tmp/vit_latency.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np

from predictors import create_predictor, predictor_names, regression_quality
from search_spaces import create_space

REPORTED = ("kendall_tau", "spearman", "within_10pct", "within_5pct", "mape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--space", default="vit")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    arguments = parser.parse_args()
    with open(arguments.csv) as handle:
        rows = list(csv.DictReader(handle))
    configs = [json.loads(row["config"]) for row in rows]
    latencies = np.array([float(row["latency_ms"]) for row in rows])
    space = create_space(arguments.space)
    held_out = int(round(arguments.test_fraction * len(configs)))
    print(f"{len(configs)} configs, {held_out} held out per split, {arguments.splits} splits")
    for name in predictor_names():
        qualities, seconds = [], 0.0
        for seed in range(arguments.splits):
            order = np.random.default_rng(seed).permutation(len(configs))
            train, test = order[held_out:], order[:held_out]
            start = time.perf_counter()
            predictor = create_predictor(name, space=space).fit([configs[i] for i in train], latencies[train])
            seconds += time.perf_counter() - start
            qualities.append(regression_quality(latencies[test], predictor.predict([configs[i] for i in test])))
        summary = "  ".join(
            f"{key} {np.mean([q[key] for q in qualities]):.3f}±{np.std([q[key] for q in qualities]):.3f}" for key in REPORTED)
        print(f"{name:6s} {summary}  (split 0: tau {qualities[0]['kendall_tau']:.3f}, "
              f"within_10pct {qualities[0]['within_10pct']:.3f}; fit {seconds / arguments.splits:.2f} s)")


if __name__ == "__main__":
    main()
