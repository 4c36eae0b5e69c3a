"""Time NAS-Bench-201 cells as real CIFAR-size networks with ONNX Runtime on this machine, under settings
that change the latency structure (threads, batch size, fp32 or int8): new latency columns, for held-out
folds only (docs/guide/evaluation.md; benchmarks/devices/README.md says how they were made).

Cells are drawn once (a seeded permutation of the 15,625; asking for more extends the same order) and
each cell is timed under every setting before the next, so the columns cover the same cells. Each
measurement goes through hwnas's own protocol: an `hw_profiles` InProcessPool on a profile per setting,
the interleaved protocol (every run beside the fixed reference network, the latency = ratio x the
reference's calibrated baseline). Every measurement is appended to the long CSV at once (with the
1-minute load average and the time), so a killed run loses nothing and a rerun skips what is there;
the wide table (one column per setting, the cells every setting measured) is rewritten at the end.

    python scripts/time_nb201_cells.py --count 400 --minutes 45
    python scripts/time_nb201_cells.py --settings ort_1t_b1_fp32,ort_2t_b1_int8 --count 100
    python scripts/time_nb201_cells.py --table-only       # rebuild the wide table from the long CSV
    python scripts/time_nb201_cells.py --max-load 4 --count 400   # re-time what was timed under load

`--max-load L` keeps only measurements taken at a 1-minute load average of at most L, in the table and in
what a rerun counts as done: a cell timed on a crowded machine is timed again, and the latest measurement
of a cell wins. Under load the interleaved ratio is biased for the settings unlike the reference (batch
32, int8, two threads), not only noisier (benchmarks/devices/README.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT / "benchmarks" / "devices"
LONG_FIELDS = ("setting", "arch_idx", "arch_str", "latency_ms", "ratio", "ratio_half_width", "noisy",
               "raw_median_ms", "reference_ms", "probe_ms", "load1", "utc")
CELL_SEED = 0  # the order in which cells are drawn
BASELINE_MATCH = 1e-3  # rows whose reference baselines differ less than this were calibrated together


@dataclass(frozen=True)
class Setting:
    threads: int
    batch_size: int
    precision: str  # fp32, or int8 (static QLinearConv/QLinearMatMul, see quantize_int8)

    @property
    def name(self) -> str:
        return f"ort_{self.threads}t_b{self.batch_size}_{self.precision}"

    def profile(self):
        """The hw_profiles profile this setting is timed on: x86-cpu-ort's protocol, fewer runs at batch 32
        (a run there takes 30-60x longer; the ratio's interval decides when to stop, as everywhere)."""
        from hw_profiles.profile import HardwareProfile

        large = self.batch_size > 8
        return HardwareProfile(name=f"nb201-{self.name}", backend="onnxruntime", threads=self.threads,
                               batch_size=self.batch_size, warmup_ms=50, warmup_runs=2 if large else 10,
                               min_repeats=6 if large else 30, min_time_ms=100, protocol="interleaved",
                               target_half_width=0.03, max_time_ms=4000 if large else 2000,
                               description=f"NAS-Bench-201 cells, {self.name}")


SETTINGS = {s.name: s for s in (Setting(t, b, p) for p in ("fp32", "int8") for b in (1, 32) for t in (1, 2))}


def cell_order(count: int) -> list[int]:
    """The first `count` arch indices of the fixed draw (the table's 15,625 cells, seeded permutation)."""
    return [int(i) for i in np.random.default_rng(CELL_SEED).permutation(15625)[:count]]


def quantize_int8(source: Path, target: Path) -> None:
    """Static int8 as ONNX Runtime's CPU provider runs a CNN: Q/DQ pairs, which its graph optimizer fuses
    into integer kernels (QLinearConv, QLinearAdd, QLinearAveragePool...), per-tensor
    uint8 activations calibrated (min-max) on 8 random CIFAR-size inputs, int8 weights in the reduced
    range (exact on AVX2 without VNNI, see search_spaces/quantization/ort_dynamic.py)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from search_spaces.nb201_network import INPUT_SHAPE
    from search_spaces.quantization.ort_dynamic import quiet_quantizer

    class Random(CalibrationDataReader):
        def __init__(self) -> None:
            generator = np.random.default_rng(0)
            self.batches = iter([{"input": generator.standard_normal((1, *INPUT_SHAPE)).astype(np.float32)}
                                 for _ in range(8)])

        def get_next(self):
            return next(self.batches, None)

    with quiet_quantizer():
        quantize_static(str(source), str(target), Random(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
                        extra_options={"QDQDisableWeightAdjustForInt32Bias": True})


def export_cell(space, arch_str: str, folder: Path, precisions: set[str]) -> dict[str, bytes]:
    """{"fp32": ONNX bytes[, "int8": ONNX bytes]} of the cell's network (dynamic batch)."""
    import torch

    from nas.models.onnx_export import export_onnx
    from search_spaces.nb201_network import INPUT_SHAPE, build_nb201_network

    torch.manual_seed(0)
    network = build_nb201_network(space, space.from_arch_str(arch_str))
    fp32 = export_onnx(network, INPUT_SHAPE, folder / "fp32.onnx")
    if "int8" not in precisions:
        return {"fp32": fp32.read_bytes()}
    quantize_int8(fp32, folder / "int8.onnx")
    return {"fp32": fp32.read_bytes(), "int8": (folder / "int8.onnx").read_bytes()}


def read_long(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def append_row(path: Path, row: dict) -> None:
    """One measurement, on disk before the next begins."""
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LONG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def usable(row: dict, max_load: float | None) -> bool:
    """Whether a measurement counts: every one without a load limit, else those timed at a 1-minute load
    average of at most `max_load`."""
    return max_load is None or float(row["load1"]) <= max_load


def write_wide(long_path: Path, wide_path: Path, settings: list[str], max_load: float | None = None) -> int:
    """arch_idx, arch_str and one latency column per setting, for the cells every setting measured (with
    `max_load`: measured at a load average of at most that), each cell's latest measurement.

    What a run measures is each cell's ratio to the reference network; its milliseconds are that ratio
    times the reference's baseline, calibrated once per machine and profile and kept (hw_profiles.reference).
    A run where that record is missing (another host, a cleared cache, a new calibration method)
    calibrates afresh, and the host's speed moves by tens of percent, so rows of one setting from such runs
    would carry different scales: every row is put on the baseline of its setting's first row, ratio x
    that baseline. Rows calibrated as the first one was (a baseline within BASELINE_MATCH of it; the CSV
    rounds the ratio) keep their value."""
    rows = read_long(long_path)
    baselines: dict[str, float] = {}
    values: dict[tuple[int, str], dict[str, str]] = {}
    for row in rows:
        own = float(row["latency_ms"]) / float(row["ratio"])
        first = baselines.setdefault(row["setting"], own)
        if not usable(row, max_load):
            continue
        value = row["latency_ms"] if abs(own / first - 1) < BASELINE_MATCH else f"{float(row['ratio']) * first:.5f}"
        values.setdefault((int(row["arch_idx"]), row["arch_str"]), {})[row["setting"]] = value
    complete = sorted(key for key, found in values.items() if all(name in found for name in settings))
    temporary = wide_path.with_suffix(".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_idx", "arch_str", *settings])
        for key in complete:
            writer.writerow([key[0], key[1], *(values[key][name] for name in settings)])
    os.replace(temporary, wide_path)
    return len(complete)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="cells to time (a prefix of the fixed draw)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {list(SETTINGS)}")
    parser.add_argument("--minutes", type=float, default=None, help="stop (cleanly) after this long")
    parser.add_argument("--folder", type=Path, default=FOLDER)
    parser.add_argument("--table-only", action="store_true", help="only rebuild the wide table")
    parser.add_argument("--max-load", type=float, default=None,
                        help="use (and count as done) only measurements taken at a 1-minute load average of at "
                             "most this; others are timed again (default: every measurement)")
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    unknown = [name for name in names if name not in SETTINGS]
    if unknown or not 1 <= args.count <= 15625:
        print(f"--settings: {unknown[0]!r} is not one of {list(SETTINGS)}" if unknown
              else f"--count must be between 1 and 15625, got {args.count}", file=sys.stderr)
        return 2
    if args.max_load is not None and not args.max_load > 0:
        print(f"--max-load must be a load average above 0, got {args.max_load}", file=sys.stderr)
        return 2
    args.folder.mkdir(parents=True, exist_ok=True)
    long_path, wide_path = args.folder / "nb201_ort_measurements.csv", args.folder / "nb201_ort_latency_ms.csv"
    if not args.table_only:
        measure(names, cell_order(args.count), long_path, args.minutes, args.max_load)
    print(f"{write_wide(long_path, wide_path, names, args.max_load)} cells in every setting -> {wide_path}",
          file=sys.stderr)
    print(json.dumps(describe(long_path, wide_path, names, args.max_load), indent=1))
    return 0


def describe(long_path: Path, wide_path: Path, names: list[str], max_load: float | None = None) -> dict:
    """Per setting: cells, the share flagged noisy, the median ratio half-width, the 1-minute load average
    while timing; and the Spearman correlations of the columns with each other and with the public table's
    columns on the same cells (how differently they rank the networks)."""
    from scipy.stats import spearmanr

    rows = [row for row in read_long(long_path) if usable(row, max_load)]
    report: dict = {"max_load": max_load, "settings": {}}
    for name in names:
        mine = [row for row in rows if row["setting"] == name]
        if mine:
            load = [float(row["load1"]) for row in mine]
            report["settings"][name] = {
                "cells": len(mine), "noisy_share": float(np.mean([row["noisy"] == "1" for row in mine])),
                "median_ratio_half_width": float(np.median([float(row["ratio_half_width"]) for row in mine])),
                "load1": {"median": float(np.median(load)), "min": min(load), "max": max(load)},
                "utc": [mine[0]["utc"], mine[-1]["utc"]]}
    with open(wide_path, newline="") as handle:
        wide = list(csv.DictReader(handle))
    public = {}
    with open(ROOT / ".." / "shared" / "benchmarks" / "nb201_latency_ms.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            public[row["arch_idx"]] = row
    if len(wide) > 2:
        public_names = [c for c in public["0"] if c not in ("arch_idx", "arch_str")]
        columns = {name: [float(row[name]) for row in wide] for name in names}
        columns.update({f"public/{c}": [float(public[row["arch_idx"]][c]) for row in wide] for c in public_names})
        report["spearman"] = {name: {other: round(float(spearmanr(columns[name], values)[0]), 3)
                                     for other, values in columns.items() if other != name} for name in names}
    return report


def measure(names: list[str], cells: list[int], long_path: Path, minutes: float | None,
            max_load: float | None = None) -> None:
    from hw_profiles.in_process_pool import InProcessPool
    from hw_profiles.model_input import InputSpec
    from hw_profiles.timing_task import TimingTask

    from search_spaces import create_space
    from search_spaces.nb201_network import INPUT_SHAPE

    space = create_space("nb201")
    with open(ROOT / ".." / "shared" / "benchmarks" / "nb201_accuracy.csv", newline="") as handle:
        arch_strs = {int(row["arch_idx"]): row["arch_str"] for row in csv.DictReader(handle)}
    done = {(row["setting"], int(row["arch_idx"])) for row in read_long(long_path) if usable(row, max_load)}
    pools = {name: InProcessPool(SETTINGS[name].profile()) for name in names}
    started = time.monotonic()
    for position, arch_idx in enumerate(cells):
        todo = [name for name in names if (name, arch_idx) not in done]
        if not todo:
            continue
        if minutes is not None and time.monotonic() - started > minutes * 60:
            print(f"stopping after {minutes} minutes at cell {position} of {len(cells)}", file=sys.stderr)
            return
        with tempfile.TemporaryDirectory(prefix="hwnas-nb201-") as folder:
            models = export_cell(space, arch_strs[arch_idx], Path(folder), {SETTINGS[n].precision for n in todo})
        for name in todo:
            task = TimingTask(str(arch_idx), models[SETTINGS[name].precision], InputSpec(INPUT_SHAPE))
            result = next(iter(pools[name].run([task])))
            if not result.ok:
                raise SystemExit(f"cell {arch_idx} on {name}: {result.error}")
            m = result.measurement
            append_row(long_path, {
                "setting": name, "arch_idx": arch_idx, "arch_str": arch_strs[arch_idx],
                "latency_ms": f"{m.median_ms:.5f}", "ratio": f"{m.ratio:.5f}",
                "ratio_half_width": f"{m.ratio_half_width:.4f}", "noisy": int(m.noisy),
                "raw_median_ms": f"{m.raw_median_ms:.5f}", "reference_ms": f"{m.reference_ms:.5f}",
                "probe_ms": f"{m.probe_ms:.5f}", "load1": f"{os.getloadavg()[0]:.2f}",
                "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
        print(f"cell {position + 1}/{len(cells)} ({arch_idx}) {time.monotonic() - started:.0f} s", file=sys.stderr,
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
