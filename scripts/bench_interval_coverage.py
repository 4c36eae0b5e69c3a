"""Coverage of the 90% latency interval per public table column, by the number of cross-validation folds
that calibrate it (predictors/intervals.py), at 100 and 500 training rows.

Each run fits `gbdt` on N rows drawn with the seed (as `hwnas predictor evaluate`), calibrates the interval
by K-fold cross-validation on those N rows alone, and counts the share of all the other rows inside their
90% interval. `--cv-folds 5,10,20,0` compares calibrations (0: `fold_count`'s default for N rows, what
`hwnas fit` uses). Columns are split by device folds (nas.search.folds): choose on `--split training`,
report `--split held-out`.

    OMP_NUM_THREADS=1 python scripts/bench_interval_coverage.py --split training --cv-folds 5,10,20 \
        --out benchmarks/predictors/interval-folds-training.json

Prints one JSON object (per column, size and K: coverage per seed, mean, median width).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

COVERAGE = 0.9


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cv-folds", default="5,20", help="calibration folds to compare (0: the default rule)")
    parser.add_argument("--folds", type=int, default=2, help="device folds over the 19 columns")
    parser.add_argument("--held-out-fold", type=int, default=0)
    parser.add_argument("--split", choices=("all", "training", "held-out"), default="held-out")
    parser.add_argument("--columns", default=None, help="only these group/column names (comma-separated)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    from bench_predictors import TABLES, table_columns

    from nas.search.folds import split_columns
    from predictors.encoding_cache import cached_encodings
    from predictors.intervals import IntervalPredictor, cross_validated_calibration, default_calibration_folds
    from predictors.registry import create_predictor
    from predictors.table import read_columns, split_rows
    from search_spaces import create_space

    every = [f"{name}/{column}" for name in TABLES for column in table_columns(TABLES[name])[0]]
    splits = split_columns(every, args.folds, args.held_out_fold)
    chosen = every if args.split == "all" else splits[args.split.replace("-", "_")]
    if args.columns:
        chosen = [name for name in chosen if name in set(args.columns.split(","))]
    sizes = [int(size) for size in args.sizes.split(",")]
    folds_options = [int(k) for k in args.cv_folds.split(",")]
    started, load = time.perf_counter(), os.getloadavg()
    results = []
    with cached_encodings():
        for table in TABLES:
            names = [name.split("/", 1)[1] for name in chosen if name.startswith(table + "/")]
            if not names:
                continue
            space = create_space(table)
            columns, path = table_columns(TABLES[table])
            configs, matrix = read_columns(path, space, columns)
            for column in names:
                targets = matrix[:, columns.index(column)]
                for size in sizes:
                    coverage = {folds: [] for folds in folds_options}
                    width = {folds: [] for folds in folds_options}
                    for seed in range(args.seeds):  # one final fit per seed, one calibration per K
                        train, test = split_rows(len(configs), size, seed)
                        rows = [configs[i] for i in train]
                        predicted = create_predictor("gbdt", space=space).fit(rows, targets[train]).predict(
                            [configs[i] for i in test])
                        for folds in folds_options:
                            calibration, _ = cross_validated_calibration(
                                "gbdt", rows, targets[train], folds or default_calibration_folds(size), seed,
                                space=space)
                            low, high = IntervalPredictor(None, calibration).around(predicted, COVERAGE)
                            coverage[folds].append(float(np.mean((targets[test] >= low) & (targets[test] <= high))))
                            width[folds].append(float(np.median((high - low) / predicted)))
                    for folds in folds_options:
                        k = folds or default_calibration_folds(size)
                        results.append({"column": f"{table}/{column}", "train_rows": size, "cv_folds": k,
                                        "cv_folds_option": folds, "coverage_per_seed": coverage[folds],
                                        "coverage_mean": float(np.mean(coverage[folds])),
                                        "width_median": float(np.median(width[folds]))})
                        print(f"{table}/{column} n={size} K={k}: {np.mean(coverage[folds]):.3f} "
                              f"({' '.join(f'{c:.3f}' for c in coverage[folds])})", file=sys.stderr, flush=True)
    summary = {}
    for size in sizes:
        for folds in folds_options:
            rows = [r for r in results if r["train_rows"] == size and r["cv_folds_option"] == folds]
            means = [r["coverage_mean"] for r in rows]
            summary[f"{size} rows, folds option {folds}"] = {
                "columns": len(rows), "within_88_92": int(sum(0.88 <= m <= 0.92 for m in means)),
                "median_coverage": float(np.median(means)) if means else None,
                "mean_abs_miss_points": float(np.mean([100 * abs(m - COVERAGE) for m in means])) if means else None}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    report = {"command": "python scripts/bench_interval_coverage.py " + " ".join(sys.argv[1:] if argv is None
                                                                                 else argv),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
              "load_average": {"start": [round(v, 2) for v in load], "end": [round(v, 2) for v in os.getloadavg()]},
              "seconds": round(time.perf_counter() - started, 1), "split": args.split, "folds": splits,
              "seeds": args.seeds, "summary": summary, "results": results}
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
