"""Benchmark the samplers on NAS-Bench-201: CIFAR-10 accuracy against every latency column of the
published latency table, seeds 0-4, budgets of 50, 100 and 250 evaluations.

Each (column, sampler, seed) is one search of the largest budget; the smaller budgets are scored on its
first evaluations (the samplers do not know the budget, so this equals a search with that budget;
tests/search/test_bench_search.py checks it). Prints JSON (every run) and, with --markdown, a table of the
medians over columns of the medians over seeds, with the worst column. Progress goes to stderr.

The evaluation protocol (docs/guide/evaluation.md): `--folds K --held-out-fold I` deals the columns into K
fixed folds (nas.search.folds) and reports the training folds' columns and the held-out fold's apart; a
change is chosen on `--split training` and judged once on `--split held-out`. `--baseline SAMPLER` adds
every other sampler's difference to it, paired by column and seed. Each run also reports the budget
regret: at latency budgets at the 25th, 50th and 75th percentile of the column, the best accuracy the
search found under the budget against the best that exists (points; searched without the budget).
`--ceiling` also scores each column's noise-aware oracle (nas.search.ceiling: exact accuracy, latency
smoothed by a predictor fitted on the whole column, the same budgets) and reports every search's
hypervolume ratio as a share of it (`share_of_ceiling`).

    nice -n 10 python scripts/bench_search.py --markdown > bench_search.json
    python scripts/bench_search.py --columns gold_6226,pixel2 --seeds 0,1 --samplers guided,tpe --markdown
    python scripts/bench_search.py --samplers guided --no-focus --markdown   # the focus's cost in recall
    python scripts/bench_search.py --folds 3 --held-out-fold 0 --split training --baseline tpe --markdown
    python scripts/bench_search.py --columns pixel2 --samplers guided --ceiling --markdown
    python scripts/bench_search.py --folds 3 --held-out-fold 0 --split held-out \
        --new-devices benchmarks/devices/nb201_ort_latency_ms.csv --budgets 25,50,100 --ceiling --markdown

`--new-devices TABLE` adds the latency columns of TABLE (the cells timed here, scripts/time_nb201_cells.py)
as held-out-only columns: they join the held-out fold and never a training fold (it needs --folds). Such
a table is a sample of the space: the search is restricted to its cells and scored against their front.

`--merge F0 F1 F2` runs nothing: it reports the held-out columns of the outputs of one held-out run per
fold together, so every column counts once and the median and worst are over all held-out columns:

    for K in 0 1 2; do python scripts/bench_search.py --folds 3 --held-out-fold $K --split held-out \
        --baseline tpe --ceiling > fold$K.json; done
    python scripts/bench_search.py --merge fold0.json fold1.json fold2.json --baseline tpe --markdown
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


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--folds", type=int, default=None, help="deal the columns into this many device folds")
    parser.add_argument("--held-out-fold", type=int, default=0, help="with --folds: the fold held out (0-based)")
    parser.add_argument("--split", choices=("all", "training", "held-out"), default="all",
                        help="with --folds: which columns to run (default all, reported apart)")
    parser.add_argument("--new-devices", default=None,
                        help="a latency table of devices kept out of development: held-out columns only")
    parser.add_argument("--baseline", default=None, help="report every sampler's paired difference to this one")
    parser.add_argument("--ceiling", action="store_true",
                        help="score each column's noise-aware oracle and report searches as a share of it")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table (after the JSON)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="run nothing: report the held-out columns of these earlier outputs of this script "
                             "together (one per held-out fold; the median and worst over every held-out column)")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.baseline, args.markdown)

    from search_spaces import create_space

    from nas.search.benchmark import TableScore, evaluation_order, run_on_table
    from nas.search.benchmark_tables import load_benchmark
    from nas.search.ceiling import column_ceiling
    from nas.search.driver import SearchConfig
    from nas.search.folds import latency_budgets, split_columns

    if args.new_devices and not args.folds:
        print("bench_search: error: --new-devices needs --folds (its columns are held-out columns only)",
              file=sys.stderr)
        return 2
    tables = {column: args.latency_table for column in table_columns(args.latency_table)}
    new = table_columns(args.new_devices) if args.new_devices else []
    tables.update({column: args.new_devices for column in new})
    columns = args.columns.split(",") if args.columns else list(tables)
    unknown = [column for column in columns if column not in tables]
    if unknown:
        print(f"bench_search: error: --columns: {unknown[0]!r} is in no latency table; columns: {', '.join(tables)}",
              file=sys.stderr)
        return 2
    splits = {"all": columns}
    if args.folds:
        splits = split_columns(columns, args.folds, args.held_out_fold, held_out_only=[c for c in new if c in columns])
        if args.split != "all":
            columns = splits[args.split.replace("-", "_")]
            splits = {args.split.replace("-", "_"): columns}
    seeds = [int(seed) for seed in args.seeds.split(",")]
    budgets = [int(budget) for budget in args.budgets.split(",")]
    samplers = args.samplers.split(",")
    space = create_space("nb201")
    runs, ceilings = [], {}
    for column in columns:
        table = load_benchmark(space, args.accuracy_table, args.accuracy_column, tables[column], column)
        budgets_ms = latency_budgets(table.latency)
        if args.ceiling:
            ceilings[column] = column_ceiling(table, budgets, TableScore(table))
            print(f"{column} ceiling " + ", ".join(f"@{b}: HV {ceilings[column][str(b)]['hypervolume_ratio']:.3f}"
                                                   for b in budgets), file=sys.stderr, flush=True)
        scorers = {name: TableScore(table, budget) for name, budget in budgets_ms.items()}
        for sampler in samplers:
            for seed in seeds:
                started = time.perf_counter()
                config = SearchConfig(trials=max(budgets), sampler=sampler, seed=seed, focus=args.focus)
                order = evaluation_order(run_on_table(table, config))
                score = TableScore(table)
                at = {str(b): {k: v for k, v in score.score(order[:b]).items() if k != "front"}
                      for b in budgets if b <= len(order)}
                for b in budgets:  # regret in points at each latency budget, after b evaluations
                    if str(b) in at:
                        at[str(b)]["regret"] = {name: scorer.score(order[:b])["regret"]
                                                for name, scorer in scorers.items()}
                        if column in ceilings:
                            at[str(b)]["share_of_ceiling"] = (at[str(b)]["hypervolume_ratio"]
                                                              / ceilings[column][str(b)]["hypervolume_ratio"])
                seconds = time.perf_counter() - started
                runs.append({"column": column, "sampler": sampler, "seed": seed, "seconds": round(seconds, 2),
                             "true_front_size": score.score(order[:1])["true_front_size"], "table_networks": len(table), "at": at,
                             "latency_budgets_ms": budgets_ms})
                scores = ", ".join(f"@{b}: HV {at[str(b)]['hypervolume_ratio']:.3f} "
                                   f"recall {at[str(b)]['front_recall']:.2f}" for b in budgets if str(b) in at)
                print(f"{column} {sampler} seed {seed} {scores} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    summary = {split: summarise(runs, samplers, budgets, split_columns_) for split, split_columns_ in splits.items()}
    paired = ({split: compare(runs, samplers, budgets, split_columns_, args.baseline)
               for split, split_columns_ in splits.items()} if args.baseline else None)
    print(json.dumps({"runs": runs, "summary": summary, "paired": paired, "ceilings": ceilings or None,
                      "columns": columns, "splits": splits, "new_devices": args.new_devices,
                      "folds": args.folds, "held_out_fold": args.held_out_fold if args.folds else None,
                      "seeds": seeds, "focus": args.focus}, indent=1))
    if args.markdown:
        for split, split_summary in summary.items():
            print(f"\n{split} columns ({len(splits[split])}): {', '.join(splits[split])}\n")
            print(markdown(split_summary, samplers, budgets))
    return 0


def merge(paths: list[str], baseline: str | None, with_markdown: bool) -> int:
    """The held-out columns of several earlier outputs (the protocol runs one per held-out fold), summarised
    together: every column held out once, so the median and the worst column are over all of them."""
    runs, columns, ceilings, seen = [], [], {}, set()
    for path in paths:
        try:
            report, _ = json.JSONDecoder().raw_decode(Path(path).read_text())  # the JSON, before any markdown
            held_out = report["splits"]["held_out"] if report.get("folds") else report["columns"]
            found = [run for run in report["runs"] if run["column"] in held_out]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            print(f"bench_search: error: --merge: {path}: not an output of this script ({error})", file=sys.stderr)
            return 2
        for run in found:
            key = (run["column"], run["sampler"], run["seed"])
            if key in seen:
                print(f"bench_search: error: --merge: {path}: column {key[0]!r}, sampler {key[1]!r}, seed {key[2]} "
                      f"is in an earlier file too; merge each held-out fold once", file=sys.stderr)
                return 2
            seen.add(key)
        runs += found
        columns += [column for column in held_out if column not in columns]
        ceilings.update({column: value for column, value in (report.get("ceilings") or {}).items()
                         if column in held_out})
    samplers = list(dict.fromkeys(run["sampler"] for run in runs))
    budgets = sorted({int(budget) for run in runs for budget in run["at"]})
    summary = {"held_out": summarise(runs, samplers, budgets, columns)}
    paired = {"held_out": compare(runs, samplers, budgets, columns, baseline)} if baseline else None
    print(json.dumps({"merged": paths, "runs": runs, "summary": summary, "paired": paired,
                      "ceilings": ceilings or None, "columns": columns, "splits": {"held_out": columns},
                      "seeds": sorted({run["seed"] for run in runs})}, indent=1))
    if with_markdown:
        print(f"\nheld_out columns of {len(paths)} file(s) ({len(columns)}): {', '.join(columns)}\n")
        print(markdown(summary["held_out"], samplers, budgets))
    return 0


def table_columns(path: str) -> list[str]:
    with open(path, newline="") as handle:
        return [c for c in next(csv.reader(handle)) if c not in ("arch_idx", "arch_str")]


def compare(runs: list[dict], samplers: list[str], budgets: list[int], columns: list[str], baseline: str) -> dict:
    """Each sampler's hypervolume ratio minus the baseline's, paired by (column, seed), per budget."""
    from nas.search.folds import paired_difference

    def values(sampler: str, budget: int) -> dict:
        return {(r["column"], r["seed"]): r["at"][str(budget)]["hypervolume_ratio"] for r in runs
                if r["sampler"] == sampler and r["column"] in columns and str(budget) in r["at"]}

    return {f"{sampler}-{baseline}@{budget}": paired_difference(values(sampler, budget), values(baseline, budget))
            for sampler in samplers if sampler != baseline for budget in budgets}


def summarise(runs: list[dict], samplers: list[str], budgets: list[int], columns: list[str]) -> dict:
    """Per sampler and budget, over `columns`: the median over columns of the median over seeds, the worst
    column, and the median budget regret (points) at each latency percentile."""
    summary = {}
    for sampler in samplers:
        for budget in budgets:
            per_column = {metric: [] for metric in ("hypervolume_ratio", "front_recall", "share_of_ceiling")}
            regrets: dict[str, list[float]] = {}
            for column in columns:
                chosen = [r["at"][str(budget)] for r in runs
                          if r["sampler"] == sampler and r["column"] == column and str(budget) in r["at"]]
                if not chosen:
                    continue
                for metric in per_column:
                    if all(metric in c for c in chosen):
                        per_column[metric].append(float(np.median([c[metric] for c in chosen])))
                for name in chosen[0].get("regret", {}):
                    found = [c["regret"][name] for c in chosen if c["regret"][name] is not None]
                    regrets.setdefault(name, []).append(float(np.median(found)) if found else float("nan"))
            if not per_column["hypervolume_ratio"]:
                continue
            worst = int(np.argmin(per_column["hypervolume_ratio"]))
            summary[f"{sampler}@{budget}"] = {
                **{metric: float(np.median(values)) for metric, values in per_column.items() if values},
                **{f"worst_column_{metric}": float(np.min(values)) for metric, values in per_column.items() if values},
                "worst_column": [c for c in columns if any(r["column"] == c for r in runs)][worst],
                "median_regret": {name: float(np.nanmedian(values)) for name, values in regrets.items()},
                "worst_column_regret": {name: float(np.nanmax(values)) for name, values in regrets.items()}}
    return summary


def markdown(summary: dict, samplers: list[str], budgets: list[int]) -> str:
    lines = ["| sampler | " + " | ".join(f"HV ratio @{b} | worst @{b} | recall @{b} | regret p25/p50/p75 @{b}"
                                        for b in budgets) + " |",
             "| --- |" + " --- | --- | --- | --- |" * len(budgets)]
    for sampler in samplers:
        cells = []
        for b in budgets:
            row = summary.get(f"{sampler}@{b}")
            if row is None:
                cells.append("- | - | - | -")
                continue
            regret = "/".join(f"{row['median_regret'].get(p, float('nan')):.2f}" for p in ("p25", "p50", "p75"))
            share = (f" (share of ceiling {row['share_of_ceiling']:.3f}, worst {row['worst_column_share_of_ceiling']:.3f})"
                     if "share_of_ceiling" in row else "")
            cells.append(f"{row['hypervolume_ratio']:.3f}{share} | {row['worst_column_hypervolume_ratio']:.3f} "
                         f"({row['worst_column']}) | {row['front_recall']:.2f} | {regret}")
        lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
