"""Profiling survives kills: a SIGKILLed `hwnas profile` process (one in-process worker, or a driver of
Ray workers) and a SIGKILLed Ray worker. Re-running completes the count, and every measurement finished
before the kill is in the store exactly once, unchanged.

These run the real CLI, the real ONNX Runtime backend and real Ray (local mode) on untrained digits-sized
ViT sub-networks (`hwnas profile --space vit --dataset digits`: latency does not need trained weights), of
depth 1 or 2 (each is exported to ONNX before it is timed: the smaller, the faster).
"""

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import yaml

from hw_profiles import MeasurementStore, load_profile

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")

COUNT = 8  # the fewest `hwnas profile` takes: a kill after 3 still leaves 5 to resume
SPACE_ARGUMENTS = {"depth_choices": [1, 2]}
SLOW_TIMING_MS = 400  # each network is timed for at least this long, so a kill lands mid-run


def write_profile(path, min_time_ms):
    path.write_text(yaml.safe_dump({
        "name": "fault-test", "backend": "onnxruntime", "threads": 1, "precisions": ["fp32", "int8"],
        "int8_scheme": "ort-dynamic", "warmup_ms": 5, "warmup_runs": 2, "min_repeats": 5,
        "min_time_ms": min_time_ms, "max_cv": 1.0}))
    return path


def profile_command(run, profile_path, *extra):
    return [sys.executable, "-m", "nas.cli", "profile", "--run", str(run), "--profile", str(profile_path),
            "--count", str(COUNT), "--space", "vit", "--dataset", "digits",
            "--space-args", json.dumps(SPACE_ARGUMENTS), "--quiet", *extra]


def stored_rows(run):
    """(config_id, median_ms, created_at) of every stored measurement; [] before the store exists."""
    path = run / "measurements.db"
    if not path.exists():
        return []
    connection = sqlite3.connect(path, timeout=30)
    try:
        return sorted(connection.execute("SELECT config_id, median_ms, created_at FROM measurements").fetchall())
    except sqlite3.OperationalError:  # the table is being created
        return []
    finally:
        connection.close()


def kill_when_stored(process, run, at_least, timeout_s=240):
    """SIGKILL `process` once the store holds `at_least` measurements; the rows stored at that moment."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`hwnas profile` ended (exit {process.returncode}) before it was killed: "
                        f"{process.stderr.read()[-2000:]}")
        if len(stored_rows(run)) >= at_least:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return stored_rows(run)
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no {at_least} measurements within {timeout_s} s")


def assert_completed_keeping(run, before):
    after = stored_rows(run)
    config_ids = [row[0] for row in after]
    assert len(after) == COUNT and len(set(config_ids)) == COUNT  # the count, each network once
    assert set(before) <= set(after)  # finished measurements survived the kill unchanged


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=needs_ray)])
def test_sigkilled_profile_run_resumes_without_losing_or_repeating_a_measurement(tmp_path, workers):
    run = tmp_path / "run"
    slow = write_profile(tmp_path / "slow.yaml", SLOW_TIMING_MS)
    process = subprocess.Popen(profile_command(run, slow, "--workers", str(workers)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    before = kill_when_stored(process, run, at_least=3)
    assert 3 <= len(before) < COUNT
    # The rerun times faster (protocol fields are not part of the fingerprint): it only completes the count.
    fast = write_profile(tmp_path / "fast.yaml", 20)
    result = subprocess.run(profile_command(run, fast), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{COUNT} networks measured or found" in result.stdout
    assert_completed_keeping(run, before)


@pytest.mark.slow
@needs_ray
def test_profiler_survives_a_sigkilled_ray_worker(tmp_path):
    """Workers killed while the profiler stores results: their tasks are retried on fresh actors, the run
    completes, and nothing is stored twice.

    Both workers are killed once two results are stored. Killing one is a race the test can lose: the
    victim may be idle, holding only results it finished, while the pool hands every remaining network to
    the other worker (the order in which Ray reports finished tasks varies), so nothing needs replacing.
    With both dead that cannot happen: at most five networks are exported when the second result is
    stored (two tasks per worker in flight, one export per collected result), and the other three must
    go to a dead actor."""
    import ray
    import torch

    from hw_profiles.ray_pool import RayPool
    from nas.data import load_dataset
    from nas.pipeline import build_space
    from nas.profiling.profiler import Profiler, profiling_configs

    if ray.is_initialized():
        pytest.skip("a Ray instance already runs in this process")
    profile = load_profile(write_profile(tmp_path / "slow.yaml", SLOW_TIMING_MS))
    space = build_space("vit", load_dataset("digits"), str(tmp_path / "slow.yaml"), SPACE_ARGUMENTS)
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    run = tmp_path / "run"
    before_kill = []
    with RayPool(profile, workers=2) as pool, MeasurementStore(run / "measurements.db") as store:
        victims = pool.worker_pids()
        killed = threading.Event()

        def kill_after_two_results():
            while len(stored_rows(run)) < 2:
                time.sleep(0.05)
            before_kill.extend(stored_rows(run))
            for victim in victims:
                os.kill(victim, signal.SIGKILL)
            killed.set()

        threading.Thread(target=kill_after_two_results, daemon=True).start()
        measured = Profiler(space, supernet, profile, store, pool=pool).measure_all(
            profiling_configs(space, COUNT, seed=0), progress=False)
        assert killed.is_set()
        replaced = [pid for pid, victim in zip(pool.worker_pids(), victims) if pid != victim]
        assert replaced, f"no worker was replaced after both were killed (pids {victims})"
    assert len(measured) == COUNT
    assert len(before_kill) >= 2
    assert_completed_keeping(run, before_kill)
