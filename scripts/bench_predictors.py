"""Latency predictors on the published latency tables (NAS-Bench-201, 13 devices; once-for-all
MobileNetV3, 6 GPU settings) and on our own measurements: every latency column, seeds 0-4, train sizes
20, 100 and 500, and 20 rows with the other columns of the same table as priors; the naive one-hot
gradient-boosting baseline beside each.

Each run fits on `train size` rows drawn with the seed and scores on every other row (the same split
and code as `hwnas predictor evaluate`). Writes <output>/bench_predictors.json (every run and the
medians) and <output>/bench_predictors.md (tables of medians over seeds, then over columns: per table
and over all columns), and prints the markdown. Progress goes to stderr.

    nice -n 10 .venv/bin/python scripts/bench_predictors.py --output runs/bench_predictors

Our own ONNX Runtime measurements: `--run runs/demo` (the run's measurements.db and the space of its
supernet), or `--store runs/demo/measurements.db --space vit --space-args JSON`, runs the same protocol
on one profile's measurements of that space (the profile picked with `--fingerprint` when the store
holds several); use train sizes that leave rows to score, e.g. `--sizes 20,50,100` for 200 networks.
With several fingerprints that measured the same networks, the 20+priors setting uses the other
fingerprints' latencies. Timings taken on a shared, busy machine are noisier than quiet-machine ones;
say so when reporting them.

`--ceiling` also fits the predictor on 80% of each column (seed 0) and reports every column's within ±10%
as a share of that ceiling. `--new-devices TABLE` (NAS-Bench-201 cells timed here,
scripts/time_nb201_cells.py) adds TABLE's columns as held-out-only columns (group `new_devices`): they are
predicted with the held-out fold and never with a training fold (it needs --folds); the priors of a new
column are the other new columns.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
TABLES = {"nb201": BENCHMARKS / "nb201_latency_ms.csv", "ofa_mbv3": BENCHMARKS / "ofa_mbv3_latency_ms.csv"}
CONFIG_COLUMNS = ("arch_idx", "arch_str", "idx", "ks", "e", "d", "r")
MIN_TEST_ROWS = 10  # a train size must leave at least this many rows to score on


def table_columns(path: Path) -> tuple[list[str], Path]:
    with open(path, newline="") as handle:
        return [name for name in next(csv.reader(handle)) if name not in CONFIG_COLUMNS], path


def store_columns(path: str, space, fingerprint: str | None) -> tuple[list, np.ndarray, list[str]]:
    """(configs, latency matrix, fingerprints) of the store's measurements of `space`: the target
    profile first, then every other profile that measured all of the target's networks."""
    from hw_profiles import MeasurementStore

    from predictors import PredictorError

    if not Path(path).is_file():
        raise PredictorError(f"measurement store '{path}' not found")
    with MeasurementStore(path) as store:
        fingerprints = sorted({row[0] for row in store.rows(space=space.key)})
        if not fingerprints:
            raise PredictorError(f"store '{path}' has no measurements of space {space.key} (check --space-args)")
        if fingerprint is None and len(fingerprints) > 1:
            raise PredictorError(f"store '{path}' holds several profiles for {space.key}; pick one with "
                                 f"--fingerprint: {', '.join(fingerprints)}")
        target = fingerprint or fingerprints[0]
        if target not in fingerprints:
            raise PredictorError(f"store '{path}' has no fingerprint {target!r}; it has {', '.join(fingerprints)}")
        by_profile = {name: {config_id: (config, measurement.median_ms)
                             for config_id, config, measurement in store.records(name, space.key)}
                      for name in fingerprints}
    measured = by_profile[target]
    others = [name for name in fingerprints if name != target and set(measured) <= set(by_profile[name])]
    ids = list(measured)
    configs = [space.canonical(measured[config_id][0]) for config_id in ids]
    matrix = np.array([[by_profile[name][config_id][1] for name in [target, *others]] for config_id in ids])
    return configs, matrix, [target, *others]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,ofa_mbv3", help="published tables to run, by space")
    parser.add_argument("--columns", default=None, help="only these columns (comma-separated; default all)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="20,100,500")
    parser.add_argument("--prior-size", type=int, default=20, help="train size with priors (0: skip)")
    parser.add_argument("--model", default="gbdt")
    parser.add_argument("--store", default=None, help="a measurements.db to benchmark instead of the tables")
    parser.add_argument("--run", default=None,
                        help="a run folder: its measurements.db, with the space of its supernet.pt")
    parser.add_argument("--space", default="vit", help="the store's space (with --store)")
    parser.add_argument("--space-args", default="{}", help="JSON arguments of the store's space")
    parser.add_argument("--fingerprint", default=None, help="the store's profile to predict")
    parser.add_argument("--output", default="runs/bench_predictors", help="folder for the JSON and markdown")
    parser.add_argument("--folds", type=int, default=None,
                        help="deal the tables' columns into this many device folds (docs/guide/evaluation.md)")
    parser.add_argument("--held-out-fold", type=int, default=0, help="with --folds: the fold held out (0-based)")
    parser.add_argument("--split", choices=("all", "training", "held-out"), default="held-out",
                        help="with --folds: which columns to predict (default the held-out fold)")
    parser.add_argument("--ceiling", action="store_true", help="also fit on 80%% of each column: its ceiling")
    parser.add_argument("--new-devices", default=None,
                        help="an nb201 latency table of devices kept out of development: held-out columns only")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    from nas.errors import HwnasError
    from nas.registry import RegistryError
    from predictors import PredictorError
    from predictors.benchmark import column_ceiling, markdown, run_column, summarise
    from predictors.encoding_cache import cached_encodings
    from predictors.table import read_columns
    from search_spaces import ConfigError, create_space

    sizes = [int(size) for size in args.sizes.split(",") if size]
    wanted = None if args.columns is None else set(args.columns.split(","))
    started = time.perf_counter()
    runs, groups, sources, ceilings = [], {}, {}, {}
    if args.new_devices and not args.folds:
        print("bench_predictors: error: --new-devices needs --folds (its columns are held-out columns only)",
              file=sys.stderr)
        return 2
    try:
        with cached_encodings():
            if args.run:  # the run's own store and space (the space arguments are in its checkpoint)
                from nas.models.checkpoint import load_checkpoint

                state = load_checkpoint(Path(args.run) / "supernet.pt")
                args.store = str(Path(args.run) / "measurements.db")
                args.space, args.space_args = state["space"]["name"], json.dumps(state["space"]["arguments"])
            if args.store:
                space = create_space(args.space, **json.loads(args.space_args))
                configs, matrix, columns = store_columns(args.store, space, args.fingerprint)
                sources[space.key] = args.store
                jobs = [(space.key, space, configs, matrix, columns, columns[:1])]
            else:
                jobs, chosen = [], None
                if args.folds:  # folds over every table's columns, named group/column
                    from nas.search.folds import split_columns

                    every = [f"{name}/{column}" for name in args.spaces.split(",")
                             for column in table_columns(TABLES[name])[0]]
                    splits = split_columns(every, args.folds, args.held_out_fold)
                    chosen = set(every if args.split == "all" else splits[args.split.replace("-", "_")])
                    sources["folds"] = {"folds": args.folds, "held_out_fold": args.held_out_fold,
                                        "split": args.split, **splits}
                for space_name in args.spaces.split(","):
                    space = create_space(space_name)
                    columns, path = table_columns(TABLES[space_name])
                    configs, matrix = read_columns(path, space, columns)
                    sources[space_name] = str(path)
                    jobs.append((space_name, space, configs, matrix, columns,
                                 [c for c in columns if (wanted is None or c in wanted)
                                  and (chosen is None or f"{space_name}/{c}" in chosen)]))
                if args.new_devices:  # held out only: never predicted with a training fold
                    space = create_space("nb201")
                    columns, path = table_columns(Path(args.new_devices))
                    configs, matrix = read_columns(path, space, columns)
                    sources["new_devices"] = str(path)
                    jobs.append(("new_devices", space, configs, matrix, columns,
                                 [] if args.split == "training" else
                                 [c for c in columns if wanted is None or c in wanted]))
            for group, space, configs, matrix, columns, targets in jobs:
                groups[group] = targets
                usable = [size for size in sizes if size <= len(configs) - MIN_TEST_ROWS]
                prior_size = args.prior_size if args.prior_size <= len(configs) - MIN_TEST_ROWS else 0
                for target in targets:
                    runs += run_column(space, configs, matrix, columns, target, usable, prior_size, args.seeds,
                                       args.model, group, progress=not args.quiet)
                    if args.ceiling:
                        ceilings[f"{group}/{target}"] = column_ceiling(
                            space, configs, matrix[:, columns.index(target)], args.model)
    except (PredictorError, ConfigError, HwnasError, RegistryError, json.JSONDecodeError) as error:
        print(f"bench_predictors: error: {error}", file=sys.stderr)
        return 2
    summary = summarise(runs, groups, ceilings)
    report = {"model": args.model, "seeds": args.seeds, "sizes": sizes, "prior_size": args.prior_size,
              "ceilings": ceilings or None,
              "sources": sources, "wall_seconds": time.perf_counter() - started, "summary": summary, "runs": runs}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "bench_predictors.json").write_text(json.dumps(report, indent=1))
    text = markdown(summary, args.model)
    (output / "bench_predictors.md").write_text(text)
    print(text)
    print(f"wrote {output / 'bench_predictors.json'} and {output / 'bench_predictors.md'} "
          f"({report['wall_seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
