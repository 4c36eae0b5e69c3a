"""Profiling throughput and test-retest spread on one hardware profile.

The same `--count` sub-networks of a space are measured twice, in two separate processes, each into a
fresh measurement store, through the profiling path every run uses (extract -> ONNX -> backend). It
reports sub-networks profiled per minute, the share of wall time spent timing versus exporting, and
the test-retest spread: the median over networks of |a - b| / b between the two processes.

Latency does not depend on the weights' values, so an untrained supernet serves; its precisions are
the profile's (mixed fp32 / int8 networks on x86-cpu-ort).

    .venv/bin/python scripts/bench_profiling.py --profile x86-cpu-ort --count 30

Prints one JSON object. Only the in-process path with one worker exists so far; the Ray worker pool
(and so the two-worker figure) is still to be built.
"""

from __future__ import annotations

import argparse
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

    from nas.profiling import precision_arguments

    return create_space(space_name, **precision_arguments(load_profile(profile_name), space_name))


def _profile_once(space_name: str, profile_name: str, count: int, seed: int, store_path: str) -> dict:
    """One process: measure the configs into a fresh store; return latencies and where time went."""
    import torch

    from hw_profiles import MeasurementStore, load_profile

    from nas.profiling import Profiler, profiling_configs

    torch.manual_seed(0)
    space = _space(space_name, profile_name)
    profiler = Profiler(space, space.build_supernet().eval(), load_profile(profile_name), MeasurementStore(store_path))
    started = time.perf_counter()
    measured = profiler.measure_all(profiling_configs(space, count, seed), progress=False)
    wall = time.perf_counter() - started
    return {"latency_ms": {m.config_id: m.latency_ms for m in measured},
            "noisy": sum(bool(m.measurement.noisy) for m in measured),
            "wall_seconds": wall, "export_seconds": profiler.seconds["export"],
            "timing_seconds": profiler.seconds["timing"], "fingerprint": profiler.fingerprint}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="x86-cpu-ort")
    parser.add_argument("--space", default="vit")
    parser.add_argument("--count", type=int, default=30, help="sub-networks measured in each process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")  # a fresh interpreter each time: a real second process
    runs = []
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-profiling-") as folder:
        for index in range(2):
            with context.Pool(1) as pool:
                runs.append(pool.apply(_profile_once, (args.space, args.profile, args.count, args.seed,
                                                       str(Path(folder) / f"store{index}.db"))))
    first, second = runs
    ids = sorted(first["latency_ms"])
    spreads = np.array([abs(first["latency_ms"][i] - second["latency_ms"][i]) / second["latency_ms"][i]
                        for i in ids])
    report = {
        "profile": args.profile, "fingerprint": first["fingerprint"], "space": args.space, "count": len(ids),
        "workers": {"1": {"networks_per_minute": [60 * len(ids) / run["wall_seconds"] for run in runs],
                          "timing_share": [run["timing_seconds"] / run["wall_seconds"] for run in runs],
                          "export_share": [run["export_seconds"] / run["wall_seconds"] for run in runs]},
                    "2": None},
        "workers_2_missing_because": "no worker pool yet: profiling runs in-process, one measurement at a time",
        "test_retest": {"median_relative_spread": float(np.median(spreads)),
                        "p90_relative_spread": float(np.percentile(spreads, 90)),
                        "max_relative_spread": float(spreads.max()),
                        "noisy_measurements": [run["noisy"] for run in runs]},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
