"""Profiling throughput with 1 and 2 workers, and test-retest spread, quiet and beside a CPU-bound neighbour.

The same `--count` sub-networks of a space are measured in separate processes, each into a fresh
measurement store, through the profiling path every run uses (extract -> ONNX in this process ->
a pool worker times it): twice with one in-process worker (test and retest) on a quiet machine, twice
more with a CPU-bound neighbour (a numpy matrix-multiply loop this script starts, pinned to a core the
worker does not use), and once per further `--workers` count with that many Ray actors (each pinned to a
core of its own). It reports, per worker count, sub-networks profiled per minute, the share of wall time
this process spent extracting and exporting, and how busy the workers were; and, quiet and loaded, the
test-retest spread (|a - b| / b over the networks: median, 90th percentile, largest) and the Kendall tau
between the two rankings. All runs share one reference baseline (a cache folder of this benchmark), as
runs on one machine do.

Latency does not depend on the weights' values, so an untrained supernet serves; its precisions are
the profile's (mixed fp32 / int8 networks on x86-cpu-ort).

    .venv/bin/python scripts/bench_profiling.py --profile x86-cpu-ort --count 30 --workers 1 2

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _space(space_name: str, profile_name: str):
    """The space at its default (mnist5k-shaped: 1x28x28, 10 classes) size, at the profile's precisions."""
    from hw_profiles import load_profile
    from search_spaces import create_space

    from nas.profiling.profiler import precision_arguments

    return create_space(space_name, **precision_arguments(load_profile(profile_name), space_name))


def _profile_once(space_name: str, profile_name: str, count: int, seed: int, store_path: str, workers: int,
                  sessions: int | None = None) -> dict:
    """One process: measure the configs into a fresh store; return latencies and where time went."""
    import torch

    from hw_profiles import MeasurementStore, create_pool, load_profile

    from nas.profiling.profiler import Profiler, profiling_configs

    torch.manual_seed(0)
    space = _space(space_name, profile_name)
    profile = load_profile(profile_name)
    if sessions is not None:
        profile = dataclasses.replace(profile, sessions=sessions)
    configs = profiling_configs(space, count, seed)
    with create_pool(profile, workers=workers) as pool:  # started (Ray actors up) before the clock starts
        profiler = Profiler(space, space.build_supernet().eval(), profile, MeasurementStore(store_path), pool=pool)
        started = time.perf_counter()
        measured = profiler.measure_all(configs, progress=False)
        wall = time.perf_counter() - started
    return {"latency_ms": {m.config_id: m.latency_ms for m in measured},
            "noisy": sum(bool(m.measurement.noisy) for m in measured),
            "wall_seconds": wall, "export_seconds": profiler.seconds["export"],
            "worker_busy_seconds": profiler.seconds["worker_busy"], "fingerprint": profiler.fingerprint}


def _spread(first: dict, second: dict) -> dict:
    """|a - b| / b over the networks both measured: median, 90th percentile, largest; and Kendall tau."""
    from scipy.stats import kendalltau

    ids = sorted(set(first) & set(second))
    spreads = np.array([abs(first[i] - second[i]) / second[i] for i in ids])
    tau = kendalltau([first[i] for i in ids], [second[i] for i in ids]).statistic
    # A factor common to every network of one process (e.g. its reference session running a little slow)
    # shows as a shifted median log ratio; what is left after removing it is the per-network noise.
    log_ratios = np.log([first[i] / second[i] for i in ids])
    common = float(np.median(log_ratios))
    return {"median_relative_spread": float(np.median(spreads)),
            "common_factor": float(np.exp(common)),
            "median_spread_without_common_factor": float(np.median(np.abs(np.expm1(log_ratios - common)))),
            "p90_relative_spread": float(np.percentile(spreads, 90)),
            "max_relative_spread": float(spreads.max()), "kendall_tau": float(tau), "networks": len(ids)}


def _neighbour(seconds: float, core: int) -> None:
    """A CPU-bound process on `core`: matrix multiplies until killed (or `seconds` pass)."""
    import os

    os.sched_setaffinity(0, {core})
    deadline = time.perf_counter() + seconds
    matrix = np.random.default_rng(0).standard_normal((400, 400))
    while time.perf_counter() < deadline:
        matrix = np.tanh(matrix @ matrix.T / 400)


def _throughput(run: dict, workers: int) -> dict:
    wall = run["wall_seconds"]
    return {"networks_per_minute": 60 * len(run["latency_ms"]) / wall, "wall_seconds": wall,
            "export_share": run["export_seconds"] / wall,
            "worker_busy_share": run["worker_busy_seconds"] / (workers * wall), "noisy": run["noisy"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="x86-cpu-ort")
    parser.add_argument("--space", default="vit")
    parser.add_argument("--count", type=int, default=30, help="sub-networks measured in each process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to run (1 is always run twice, for the test-retest spread)")
    parser.add_argument("--sessions", type=int, default=None,
                        help="override the profile's `sessions` (candidate and reference sessions per measurement)")
    parser.add_argument("--quiet-only", action="store_true", help="skip the two runs beside the neighbour")
    args = parser.parse_args(argv)

    import os

    context = multiprocessing.get_context("spawn")  # a fresh interpreter each time: a real second process
    plan = [(1, "quiet"), (1, "quiet"), *([] if args.quiet_only else [(1, "loaded"), (1, "loaded")]),
            *((workers, "quiet") for workers in sorted(set(args.workers) - {1}))]
    allowed = sorted(os.sched_getaffinity(0))
    runs = []
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-profiling-") as folder:
        os.environ["HWNAS_CACHE_DIR"] = str(Path(folder) / "cache")  # one reference baseline for every run
        for index, (workers, condition) in enumerate(plan):
            print(f"run {index + 1}/{len(plan)}: {workers} worker(s), {condition}", file=sys.stderr, flush=True)
            neighbour = None
            if condition == "loaded":  # the worker times on the first allowed core; the neighbour takes the last
                neighbour = context.Process(target=_neighbour, args=(3600.0, allowed[-1]), daemon=True)
                neighbour.start()
            try:
                with context.Pool(1) as pool:
                    runs.append(pool.apply(_profile_once, (args.space, args.profile, args.count, args.seed,
                                                           str(Path(folder) / f"store{index}.db"), workers,
                                                           args.sessions)))
            finally:
                if neighbour is not None:
                    neighbour.terminate()
                    neighbour.join()
    loaded_runs = 0 if args.quiet_only else 2
    quiet, loaded, more = runs[0:2], runs[2:2 + loaded_runs], runs[2 + loaded_runs:]
    extra = plan[2 + loaded_runs:]
    report = {
        "command": "python scripts/bench_profiling.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"), "load_average_after": list(os.getloadavg()),
        "latency_ms": {"quiet": [run["latency_ms"] for run in quiet], "loaded": [run["latency_ms"] for run in loaded]},
        "profile": args.profile, "fingerprint": quiet[0]["fingerprint"], "space": args.space,
        "count": len(quiet[0]["latency_ms"]), "neighbour_core": allowed[-1], "sessions": args.sessions,
        "workers": {"1": [_throughput(run, 1) for run in quiet],
                    "1_loaded": [_throughput(run, 1) for run in loaded],
                    **{str(workers): [_throughput(run, workers)] for (workers, _), run in zip(extra, more)}},
        "test_retest": {**_spread(quiet[0]["latency_ms"], quiet[1]["latency_ms"]),
                        "noisy_measurements": [run["noisy"] for run in quiet]},
        **({} if args.quiet_only else {
            "test_retest_loaded": {**_spread(loaded[0]["latency_ms"], loaded[1]["latency_ms"]),
                                   "noisy_measurements": [run["noisy"] for run in loaded]},
            "quiet_vs_loaded": _spread(loaded[0]["latency_ms"], quiet[0]["latency_ms"])}),
        "one_vs_more_workers": {str(workers): _spread(run["latency_ms"], quiet[0]["latency_ms"])
                                for (workers, _), run in zip(extra, more)},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
