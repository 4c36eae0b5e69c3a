"""Benchmark the samplers on NAS-Bench-201: CIFAR-10 accuracy against every latency column of the
published latency table, seeds 0-4, budgets of 50, 100 and 250 evaluations.

Each (column, sampler, seed) is one search of the largest budget; the smaller budgets are scored on its
first evaluations (the samplers do not know the budget, so this equals a search with that budget;
tests/test_bench_search.py checks it). Prints JSON (every run) and, with --markdown, a table of the
medians over columns of the medians over seeds. Progress goes to stderr.

    nice -n 10 python scripts/bench_search.py --markdown > bench_search.json
    python scripts/bench_search.py --columns gold_6226,pixel2 --seeds 0,1 --samplers guided,tpe --markdown
    python scripts/bench_search.py --samplers guided --no-focus --markdown   # the focus's cost in recall
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCHMARKS = ROOT / ".." / "shared" / "benchmarks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accuracy-table", default=str(BENCHMARKS / "nb201_accuracy.csv"))
    parser.add_argument("--accuracy-column", default="cifar10_test_acc")
    parser.add_argument("--latency-table", default=str(BENCHMARKS / "nb201_latency_ms.csv"))
    parser.add_argument("--columns", default=None, help="comma-separated latency columns (default: all)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budgets", default="50,100,250")
    parser.add_argument("--samplers", default="random,nsga2,tpe,guided")
    parser.add_argument("--no-focus", dest="focus", action="store_false",
                        help="guided without its focus (GuidedSettings.focus_*): picks spread over the whole front")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table (after the JSON)")
    args = parser.parse_args()

    from search_spaces import create_space

    from nas.search.benchmark import bench_search
    from nas.search.benchmark_tables import load_benchmark
    from nas.search.driver import SearchConfig

    with open(args.latency_table, newline="") as handle:
        header = next(csv.reader(handle))
    columns = args.columns.split(",") if args.columns else [c for c in header if c not in ("arch_idx", "arch_str")]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    budgets = [int(budget) for budget in args.budgets.split(",")]
    samplers = args.samplers.split(",")
    space = create_space("nb201")
    runs = []
    for column in columns:
        table = load_benchmark(space, args.accuracy_table, args.accuracy_column, args.latency_table, column)
        for sampler in samplers:
            for seed in seeds:
                started = time.perf_counter()
                config = SearchConfig(trials=max(budgets), sampler=sampler, seed=seed, focus=args.focus)
                result = bench_search(table, config, checkpoints=budgets)
                seconds = time.perf_counter() - started
                runs.append({"column": column, "sampler": sampler, "seed": seed, "seconds": round(seconds, 2),
                             "true_front_size": result["true_front_size"], "at": result["at"]})
                scores = ", ".join(f"@{b}: HV {result['at'][str(b)]['hypervolume_ratio']:.3f} "
                                   f"recall {result['at'][str(b)]['front_recall']:.2f}" for b in budgets)
                print(f"{column} {sampler} seed {seed} {scores} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    summary = summarise(runs, samplers, budgets, columns)
    print(json.dumps({"runs": runs, "summary": summary, "columns": columns, "seeds": seeds, "focus": args.focus},
                     indent=1))
    if args.markdown:
        print(markdown(summary, samplers, budgets))
    return 0


def summarise(runs: list[dict], samplers: list[str], budgets: list[int], columns: list[str]) -> dict:
    """Per sampler and budget: the median over columns of the median over seeds, and the worst column."""
    summary = {}
    for sampler in samplers:
        for budget in budgets:
            per_column = {metric: [] for metric in ("hypervolume_ratio", "front_recall")}
            for column in columns:
                chosen = [r["at"][str(budget)] for r in runs if r["sampler"] == sampler and r["column"] == column]
                for metric in per_column:
                    per_column[metric].append(float(np.median([c[metric] for c in chosen])))
            summary[f"{sampler}@{budget}"] = {
                **{metric: float(np.median(values)) for metric, values in per_column.items()},
                **{f"worst_column_{metric}": float(np.min(values)) for metric, values in per_column.items()}}
    return summary


def markdown(summary: dict, samplers: list[str], budgets: list[int]) -> str:
    lines = ["| sampler | " + " | ".join(f"HV ratio @{b} | recall @{b}" for b in budgets) + " |",
             "| --- |" + " --- | --- |" * len(budgets)]
    for sampler in samplers:
        cells = [f"{summary[f'{sampler}@{b}']['hypervolume_ratio']:.3f} | {summary[f'{sampler}@{b}']['front_recall']:.2f}"
                 for b in budgets]
        lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
