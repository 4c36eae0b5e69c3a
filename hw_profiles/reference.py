"""The reference network of the interleaved protocol, and its long-run latency on this machine.

The reference is one fixed ONNX model, the same bytes everywhere (a seeded six-layer MLP on a 32 x 256
input, about 12.6 M multiply-adds): the interleaved protocol times every candidate run for run beside it
and ranks candidates by the ratio of the two. To report milliseconds, the ratio is multiplied by the
reference's *baseline*: its latency on this machine and profile in quiet windows (the 25th percentile of
the window medians of a calibration), each run after a stand-in candidate as in the protocol; and the
baseline of the machine-speed probe (the reference back to back). Both are measured once and kept in a
small file under the cache folder
(`$HWNAS_CACHE_DIR`, default `~/.cache/hwnas`), so every later process on this machine reports the same
scale and two runs a day apart agree in milliseconds as well as in ratios. The first process to calibrate
wins; delete the file (or call `calibrate` with `force=True`) to measure it again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hw_profiles.durable_files import fsync_folder

REFERENCE_INPUT_SHAPE = (32, 256)  # rows x features of the reference's one float32 input
REFERENCE_LAYERS = 6
REFERENCE_SEED = 0
CALIBRATION_MS = 1000.0  # how long a calibration times the reference alone
CALIBRATION_WINDOW_MS = 25.0  # window length whose median is one calibration sample
QUIET_QUANTILE = 25  # the baseline: this percentile of the calibration's window medians
CALIBRATION_METHOD = "between-stand-in-2"  # in the baseline file's name: a new method calibrates afresh
STAND_IN_SEED = 100  # the calibration's stand-in candidate: the reference's shape with these weights


@functools.lru_cache(maxsize=2)
def reference_model_bytes(seed: int = REFERENCE_SEED) -> bytes:
    """The reference network as ONNX bytes, identical on every machine (seeded weights, fixed graph).
    Another `seed` gives the calibration's stand-in candidate: the same shape, other weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows, features = REFERENCE_INPUT_SHAPE
    generator = np.random.default_rng(seed)
    nodes, initializers, previous = [], [], "input"
    for layer in range(REFERENCE_LAYERS):
        weight = (generator.standard_normal((features, features)) / np.sqrt(features)).astype(np.float32)
        initializers.append(numpy_helper.from_array(weight, name=f"weight{layer}"))
        nodes.append(helper.make_node("MatMul", [previous, f"weight{layer}"], [f"linear{layer}"], name=f"matmul{layer}"))
        output = "output" if layer == REFERENCE_LAYERS - 1 else f"hidden{layer}"
        nodes.append(helper.make_node("Relu", [f"linear{layer}"], [output], name=f"relu{layer}"))
        previous = output
    graph = helper.make_graph(
        nodes, "hwnas_reference",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [rows, features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [rows, features])], initializers)
    model = helper.make_model(graph, producer_name="hwnas-reference", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(deterministic=True)


def reference_sha256() -> str:
    return hashlib.sha256(reference_model_bytes()).hexdigest()


def reference_input() -> np.ndarray:
    return np.random.default_rng(REFERENCE_SEED + 1).standard_normal(REFERENCE_INPUT_SHAPE).astype(np.float32)


def cache_folder() -> Path:
    return Path(os.environ.get("HWNAS_CACHE_DIR") or Path.home() / ".cache" / "hwnas") / "reference"


def baseline_path(fingerprint: str, sha256: str | None = None) -> Path:
    """The baseline file of a profile fingerprint (which names the machine's CPU and runtime) and a reference
    network (its ONNX SHA-256; None: the fixed reference)."""
    sha256 = sha256 or reference_sha256()
    key = hashlib.sha256(f"{fingerprint}:{sha256}:{CALIBRATION_METHOD}".encode()).hexdigest()[:16]
    return cache_folder() / f"{key}.json"


def calibrate(run_reference: Callable[[], None] | Sequence[Callable[[], None]],
              run_between: Callable[[], None] | None = None, duration_ms: float = CALIBRATION_MS,
              sha256: str | None = None) -> dict:
    """Time the reference for `duration_ms` in windows of CALIBRATION_WINDOW_MS, each run after one untimed
    run of `run_between` (a stand-in candidate): in the interleaved protocol a candidate runs between two
    reference runs and evicts the reference's weights from the core's caches, which slows it by a fifth or
    more, so the baseline is taken in the same condition. It is the QUIET_QUANTILE-th percentile of the
    window medians (the machine's quieter spells). Several `run_reference` (the reference in several
    sessions) take the windows in turn, as the protocol does."""
    references = list(run_reference) if isinstance(run_reference, (list, tuple)) else [run_reference]
    run_between = run_between or (lambda: None)
    for reference in references:  # warm up
        for _ in range(5):
            run_between()
            reference()
    windows = _window_medians(references, run_between, duration_ms)
    # The back-to-back probe's baseline (hw_profiles.protocol.probe_reference, which times the first session):
    # the reference with its weights warm, which says how fast the machine is whatever a candidate evicts.
    probe_windows = _window_medians(references[:1], lambda: None, duration_ms / 2)
    return {"baseline_ms": float(np.percentile(windows, QUIET_QUANTILE)), "windows": len(windows),
            "probe_baseline_ms": float(np.percentile(probe_windows, QUIET_QUANTILE)),
            "window_medians_ms": [round(value, 6) for value in windows],
            "calibrated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "reference_sha256": sha256 or reference_sha256()}


def _window_medians(references: Sequence[Callable[[], None]], run_between: Callable[[], None],
                    duration_ms: float) -> list[float]:
    """Medians of CALIBRATION_WINDOW_MS windows of reference runs (each after one untimed `run_between`),
    the references taking the windows in turn, for `duration_ms` and at least 8 windows."""
    windows: list[float] = []
    started = time.perf_counter()
    while (time.perf_counter() - started) * 1000 < duration_ms or len(windows) < 8:
        run_reference = references[len(windows) % len(references)]
        window_started, samples = time.perf_counter(), []
        while (time.perf_counter() - window_started) * 1000 < CALIBRATION_WINDOW_MS or len(samples) < 3:
            run_between()
            begin = time.perf_counter_ns()
            run_reference()
            samples.append((time.perf_counter_ns() - begin) / 1e6)
        windows.append(float(np.median(samples)))
    return windows


def load_or_calibrate(fingerprint: str, run_reference: Callable[[], None] | Sequence[Callable[[], None]],
                      force: bool = False,
                      run_between: Callable[[], None] | None = None, sha256: str | None = None) -> dict:
    """The stored baseline record of `fingerprint` and the reference whose ONNX SHA-256 is `sha256` (None:
    the fixed reference) on this machine, calibrating (and storing) it first when there is none (or
    `force`). Concurrent first calls: the first file written wins."""
    sha256 = sha256 or reference_sha256()
    path = baseline_path(fingerprint, sha256)
    if not force:
        stored = _read(path, sha256)
        if stored is not None:
            return stored
    record = {**calibrate(run_reference, run_between, sha256=sha256), "fingerprint": fingerprint}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(record, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if force:
            os.replace(handle.name, path)
        else:
            os.link(handle.name, path)  # fails if another process stored one meanwhile: theirs wins
    except FileExistsError:
        pass
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
        fsync_folder(path.parent)  # the new name (and the temporary's removal) survive a power loss
    return _read(path, sha256) or record


def _read(path: Path, sha256: str) -> dict | None:
    """A stored baseline record, or None where there is none or it is unreadable or implausible."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("reference_sha256") != sha256:
        return None
    for name in ("baseline_ms", "probe_baseline_ms"):
        value = record.get(name)
        if not isinstance(value, (int, float)) or not 0 < value < 1e5:
            return None
    return record
