"""Time sampled configs of a search space on ONNX Runtime (CPU, one thread) and write a CSV.

Development data for choosing a latency predictor: one row per config, with the canonical config as
JSON and the median latency in milliseconds. Not a replacement for the profiling pipeline
(`hw_profiles`); this is a quick, self-contained measurement.

    .venv/bin/python scripts/collect_vit_latencies.py --count 120 --output /tmp/vit_latency.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def export_onnx(space, config: dict, path: Path) -> None:
    """Build the static network of `config` and export it to ONNX (batch size 1) as hwnas does."""
    from nas.models.onnx_export import export_onnx as export

    export(space.build_network(config).eval(), space.input_shape, path, batch_size=1)


def time_onnx(path: Path, input_shape: tuple[int, ...], warmup: int, repeats: int) -> float:
    """Median latency in milliseconds of one sequential, single-threaded ONNX Runtime session."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    feed = {"input": np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)


def collect(space_name: str, count: int, seed: int, warmup: int, repeats: int, passes: int, output: Path) -> None:
    """Export `count` distinct sampled configs, time each in `passes` interleaved passes, keep the fastest
    pass's median (a burst of load elsewhere on the machine then hurts one pass, not the result)."""
    from search_spaces import create_space

    space = create_space(space_name)
    rng = np.random.default_rng(seed)
    configs = space.sample_distinct(count, rng)
    if hasattr(os, "sched_setaffinity"):  # one core: measurements on a shared core are noise
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{index}.onnx" for index in range(count)]
        for index, (config, path) in enumerate(zip(configs, paths)):
            export_onnx(space, config, path)
            print(f"exported {index + 1}/{count}", flush=True)
        latency = np.full(count, np.inf)
        for number in range(passes):
            for index, path in enumerate(paths):
                latency[index] = min(latency[index], time_onnx(path, space.input_shape, warmup, repeats))
            print(f"pass {number + 1}/{passes} done", flush=True)
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["config_id", "config", "latency_ms"])
        for config, value in zip(configs, latency):
            writer.writerow([space.config_id(config), json.dumps(config, sort_keys=True), f"{value:.6f}"])
    print(f"wrote {count} rows to {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="vit")
    parser.add_argument("--count", type=int, default=120, help="number of distinct sampled configs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs; the median is reported")
    parser.add_argument("--passes", type=int, default=1,
                        help="interleaved timing passes over all models; the fastest pass's median is kept")
    parser.add_argument("--output", type=Path, default=Path("/tmp/vit_latency.csv"))
    arguments = parser.parse_args()
    collect(arguments.space, arguments.count, arguments.seed, arguments.warmup, arguments.repeats,
            arguments.passes, arguments.output)


if __name__ == "__main__":
    main()
