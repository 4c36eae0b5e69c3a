"""The measurement protocol every backend shares: warm up, time, check the noise, retry.

A backend only supplies ``run_once`` (one inference, blocking until the result is ready); this module
decides how many runs to time and when a measurement is good enough.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import TYPE_CHECKING, Callable

from hw_profiles.measurement import Measurement

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile

NS_PER_MS = 1_000_000


def warm_up(run_once: Callable[[], None], profile: HardwareProfile) -> int:
    """Run until both ``warmup_runs`` runs and ``warmup_ms`` have passed; returns the runs made.

    Always at least one run. A slow model stops early once 10 x ``warmup_ms`` has passed (no time cap
    when ``warmup_ms`` is 0).
    """
    need_ns = profile.warmup_ms * NS_PER_MS
    cap_ns = 10 * need_ns if profile.warmup_ms > 0 else float("inf")
    start = time.perf_counter_ns()
    runs = 0
    while True:
        run_once()
        runs += 1
        elapsed = time.perf_counter_ns() - start
        if runs >= profile.warmup_runs and elapsed >= need_ns:
            return runs
        if elapsed >= cap_ns:
            return runs


def wall_clock(run_once: Callable[[], None]) -> Callable[[], int]:
    """A ``time_run`` that times ``run_once`` (which blocks until its result is ready) on the host clock."""
    clock = time.perf_counter_ns

    def time_run() -> int:
        start = clock()
        run_once()
        return clock() - start

    return time_run


def timed_runs(time_run: Callable[[], int], profile: HardwareProfile) -> list[float]:
    """Time runs until both ``min_repeats`` runs and ``min_time_ms`` have passed; per-run ms.

    ``time_run`` makes one run and returns its duration in nanoseconds (the host clock for CPU
    backends, CUDA events for GPU ones). Python's garbage collector is paused meanwhile (as ``timeit``
    does) so it adds no spikes.
    """
    need_ns = profile.min_time_ms * NS_PER_MS
    samples_ns: list[int] = []
    total_ns = 0
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(samples_ns) < profile.min_repeats or total_ns < need_ns:
            duration = time_run()
            samples_ns.append(duration)
            total_ns += duration
    finally:
        if collector_was_enabled:
            gc.enable()
    return [sample / NS_PER_MS for sample in samples_ns]


def run_protocol(run_once: Callable[[], None], profile: HardwareProfile,
                 time_run: Callable[[], int] | None = None) -> Measurement:
    """Warm up once, then time; while the robust CV exceeds ``max_cv``, time again (at most
    ``max_retries`` more times). Keeps the least noisy attempt; flags it noisy if still above.

    ``time_run`` (one run, its duration in ns) defaults to the host clock around ``run_once``.
    """
    time_run = time_run or wall_clock(run_once)
    warm_up(run_once, profile)
    best: Measurement | None = None
    retries = 0
    for attempt in range(profile.max_retries + 1):
        retries = attempt
        measurement = Measurement.from_samples(timed_runs(time_run, profile))
        if best is None or measurement.cv < best.cv:
            best = measurement
        if measurement.cv <= profile.max_cv:
            break
    assert best is not None
    return dataclasses.replace(best, noisy=best.cv > profile.max_cv, retries=retries)
