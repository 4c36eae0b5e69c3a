"""The measurement protocols backends share: ``plain`` (warm up, time, check the noise, retry) and
``interleaved`` (the candidate timed run for run beside a fixed reference network; see hw_profiles.ratio).

A backend only supplies ``run_once`` (one inference, blocking until the result is ready, and for the
interleaved protocol the reference's as well); this module decides how many runs to time and when a
measurement is good enough.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import time
from typing import TYPE_CHECKING, Callable, Sequence

from hw_profiles.measurement import Measurement

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile

NS_PER_MS = 1_000_000
# The interleaved protocol groups consecutive candidate/reference pairs into windows of about this many
# milliseconds (within these bounds on the pair count); each window gives one ratio of medians.
WINDOW_MS = 12.0
MIN_PAIRS_PER_WINDOW, MAX_PAIRS_PER_WINDOW = 3, 40
PROBE_RUNS = 6  # the machine-speed probe after the windows: the reference back to back, the first run discarded


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


def run_interleaved(run_once: Callable[[], None] | Sequence[Callable[[], None]],
                    run_reference: Callable[[], None] | Sequence[Callable[[], None]], profile: HardwareProfile,
                    baseline_ms: float, probe_baseline_ms: float | None = None) -> Measurement:
    """The interleaved protocol: time the candidate and the reference run for run (their order alternating
    pair by pair), in windows of pairs, until the ratio's confidence interval is within
    ``target_half_width`` of it (and at least ``min_repeats`` candidate runs and MIN_WINDOWS windows are
    timed), or until ``max_time_ms`` has passed: then the measurement is flagged noisy.

    The latency reported is ``ratio x baseline_ms`` (the reference's long-run latency on this machine):
    milliseconds whose ranking comes from the ratio, which drift of the core's speed does not move. After
    the windows, the reference is timed back to back (``probe_ms``, compared with ``probe_baseline_ms``): the
    machine's speed at that moment, whatever the candidate evicted from the caches.

    ``run_once`` and ``run_reference`` may each be several callables (the same model in several sessions:
    fresh sessions of one model differ by a few percent in speed): window ``w`` then times candidate
    ``w mod K`` beside reference ``w mod R``, so the median window ratio is not one session's luck.
    """
    from hw_profiles.ratio import MIN_WINDOWS, estimate_ratio

    clock = time.perf_counter_ns
    candidates = list(run_once) if isinstance(run_once, (list, tuple)) else [run_once]
    references = list(run_reference) if isinstance(run_reference, (list, tuple)) else [run_reference]
    turns = itertools.cycle(candidates)
    warm_up(lambda: next(turns)(), dataclasses.replace(profile, warmup_runs=profile.warmup_runs * len(candidates)))
    for reference in references:  # the reference's sessions are kept warm between measurements: a few runs
        for _ in range(3):
            reference()
    candidate_ns: list[int] = []
    reference_ns: list[int] = []
    window = 0  # pairs per window, fixed after the first pairs: about WINDOW_MS of candidate and reference
    started = clock()
    cap_ns = max(profile.max_time_ms, profile.min_time_ms) * NS_PER_MS
    estimate = None
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            turn = len(candidate_ns) // window if window else 0  # the window this pair of pairs belongs to
            candidate, reference = candidates[turn % len(candidates)], references[turn % len(references)]
            for first, second, first_times, second_times in (
                    (candidate, reference, candidate_ns, reference_ns),
                    (reference, candidate, reference_ns, candidate_ns)):
                begin = clock()
                first()
                middle = clock()
                second()
                first_times.append(middle - begin)
                second_times.append(clock() - middle)
            if not window and len(candidate_ns) >= 4:
                pair_ms = (sum(candidate_ns) + sum(reference_ns)) / len(candidate_ns) / NS_PER_MS
                window = int(min(MAX_PAIRS_PER_WINDOW, max(MIN_PAIRS_PER_WINDOW, round(WINDOW_MS / pair_ms))))
                window += window % 2  # even: pairs come two at a time, so a window never mixes two sessions
            if not window or len(candidate_ns) % window:
                continue
            windows = len(candidate_ns) // window
            elapsed = clock() - started
            enough = len(candidate_ns) >= profile.min_repeats and elapsed >= profile.min_time_ms * NS_PER_MS
            if windows >= MIN_WINDOWS and (enough or elapsed >= cap_ns):
                estimate = estimate_ratio([t / NS_PER_MS for t in candidate_ns],
                                          [t / NS_PER_MS for t in reference_ns], window)
                if estimate.half_width <= profile.target_half_width or elapsed >= cap_ns:
                    break
        probe = probe_reference(references[0])
    finally:
        if collector_was_enabled:
            gc.enable()
    timed = Measurement.from_samples([t / NS_PER_MS for t in candidate_ns])
    return dataclasses.replace(
        timed, median_ms=estimate.ratio * baseline_ms,
        iqr_ms=timed.iqr_ms * estimate.ratio * baseline_ms / timed.median_ms,
        mean_ms=timed.mean_ms * estimate.ratio * baseline_ms / timed.median_ms,
        noisy=estimate.half_width > profile.target_half_width, protocol="interleaved",
        ratio=estimate.ratio, ratio_half_width=estimate.half_width, raw_median_ms=estimate.candidate_ms,
        reference_ms=estimate.reference_ms, reference_baseline_ms=baseline_ms, probe_ms=probe,
        probe_baseline_ms=probe_baseline_ms)


def probe_reference(run_reference: Callable[[], None], runs: int = PROBE_RUNS) -> float:
    """The reference's latency back to back (ms): the median of `runs` - 1 runs after one that brings its
    weights back into the caches."""
    clock = time.perf_counter_ns
    run_reference()
    samples = []
    for _ in range(runs - 1):
        begin = clock()
        run_reference()
        samples.append((clock() - begin) / NS_PER_MS)
    return float(sorted(samples)[len(samples) // 2])
