"""Latency predictors on the published latency tables (NAS-Bench-201 and once-for-all MobileNetV3):
our `gbdt` against the naive one-hot gradient-boosting baseline, for every device column, seeds 0-4
and train sizes 20, 100, 500.

Each run fits on `train size` rows drawn with the seed and scores on every other row (the same split
as `hwnas predictor evaluate`). Prints one JSON object and, with --markdown, a table of medians over
seeds.

    .venv/bin/python scripts/bench_predictors.py --markdown

Not yet covered (see the [predictors] issue): 20 rows with priors from the other columns.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
TABLES = {"nb201": BENCHMARKS / "nb201_latency_ms.csv", "ofa_mbv3": BENCHMARKS / "ofa_mbv3_latency_ms.csv"}
CONFIG_COLUMNS = ("arch_idx", "arch_str", "idx", "ks", "e", "d", "r")
METRICS = ("within_10pct", "kendall_tau", "spearman", "mape")


def _one_hot_baseline(space, configs, targets, train, test) -> dict:
    """Gradient boosting on the one-hot encoded config alone (no analytic costs): the naive floor."""
    from sklearn.ensemble import GradientBoostingRegressor

    from predictors import regression_quality

    keys = list(space.choices)
    values = {key: list(space.choices[key].values) for key in keys}
    matrix = np.array([[float(config[key] == value) for key in keys for value in values[key]] for config in configs])
    model = GradientBoostingRegressor(random_state=0).fit(matrix[train], targets[train])
    return regression_quality(targets[test], model.predict(matrix[test]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,ofa_mbv3", help="tables to run, by space")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="20,100,500")
    parser.add_argument("--model", default="gbdt")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table of medians")
    args = parser.parse_args(argv)

    sizes = [int(size) for size in args.sizes.split(",")]
    report = {"model": args.model, "seeds": args.seeds, "spaces": {}}
    for space_name in args.spaces.split(","):
        report["spaces"][space_name] = _run_table(space_name, TABLES[space_name], sizes, args.seeds, args.model)
    print(json.dumps(report, indent=2))
    if args.markdown:
        for space_name, table in report["spaces"].items():
            for size in sizes:
                _markdown(space_name, size, table["medians"][str(size)], args.model)
    return 0


def _markdown(space_name: str, size: int, medians: dict, model: str) -> None:
    print(f"\n{space_name}, train size {size} (median over seeds)\n")
    print(f"| column | {model} within 10% | one-hot within 10% | {model} tau | one-hot tau |")
    print("| --- | --- | --- | --- | --- |")
    for column, v in medians["per_column"].items():
        print(f"| {column} | {v[f'{model}_within_10pct']:.3f} | {v['onehot_within_10pct']:.3f} | "
              f"{v[f'{model}_kendall_tau']:.3f} | {v['onehot_kendall_tau']:.3f} |")
    summary = medians["median_over_columns"]
    print(f"| **median** | {summary[f'{model}_within_10pct']:.3f} | {summary['onehot_within_10pct']:.3f} | "
          f"{summary[f'{model}_kendall_tau']:.3f} | {summary['onehot_kendall_tau']:.3f} |")


def _run_table(space_name: str, table: Path, sizes: list[int], seeds: int, model: str) -> dict:
    from predictors.table import evaluate_on_table, read_table
    from search_spaces import create_space

    space = create_space(space_name)
    with open(table, newline="") as handle:
        columns = [name for name in next(csv.reader(handle)) if name not in CONFIG_COLUMNS]
    results = []
    for column in columns:
        configs, targets = read_table(table, space, column)
        for size in sizes:
            for seed in range(seeds):
                ours = evaluate_on_table(space, configs, targets, size, seed, model)
                order = np.random.default_rng(seed).permutation(len(configs))  # the same split as ours
                baseline = _one_hot_baseline(space, configs, targets, order[:size], order[size:])
                results.append({"column": column, "train_size": size, "seed": seed,
                                **{f"{model}_{m}": ours[m] for m in METRICS},
                                **{f"onehot_{m}": baseline[m] for m in METRICS}})
                print(f"{space_name} {column} n={size} seed={seed}: within10 {ours['within_10pct']:.3f} (one-hot "
                      f"{baseline['within_10pct']:.3f}), tau {ours['kendall_tau']:.3f}", file=sys.stderr, flush=True)
    medians = {}
    for size in sizes:
        rows = [r for r in results if r["train_size"] == size]
        per_column = {column: {key: float(np.median([r[key] for r in rows if r["column"] == column]))
                               for key in rows[0] if key.startswith((model, "onehot"))} for column in columns}
        medians[str(size)] = {
            "per_column": per_column,
            "median_over_columns": {key: float(np.median([v[key] for v in per_column.values()]))
                                    for key in next(iter(per_column.values()))},
            "columns_below_onehot_within_10pct": [c for c, v in per_column.items()
                                                   if v[f"{model}_within_10pct"] < v["onehot_within_10pct"]],
        }
    return {"table": str(table), "medians": medians, "runs": results}


if __name__ == "__main__":
    sys.exit(main())
