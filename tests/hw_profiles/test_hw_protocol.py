"""The shared measurement protocol, driven by real callables (a busy loop and an uneven sleep)."""

import os
import time

import pytest

from hw_profiles import HardwareProfile
from hw_profiles.affinity import affinity_supported, pinned_to
from hw_profiles.protocol import run_protocol, timed_runs, wall_clock, warm_up


def profile(**overrides):
    settings = dict(name="fast", backend="onnxruntime", warmup_ms=2, warmup_runs=3, min_repeats=5, min_time_ms=5)
    return HardwareProfile(**{**settings, **overrides})


def busy(microseconds):
    def run_once():
        end = time.perf_counter_ns() + microseconds * 1000
        while time.perf_counter_ns() < end:
            pass

    return run_once


def test_warm_up_needs_both_runs_and_time():
    assert warm_up(busy(10), profile(warmup_ms=0, warmup_runs=7)) == 7
    # One run is not enough: it goes on until 50 ms have passed. (Not a run count: on a loaded machine a
    # 0.1 ms busy loop can take far longer in wall time, and the count drops.)
    start = time.perf_counter()
    assert warm_up(busy(100), profile(warmup_ms=50, warmup_runs=1)) >= 2
    assert time.perf_counter() - start >= 0.050


def test_warm_up_is_capped_at_ten_times_warmup_ms():
    start = time.perf_counter()
    runs = warm_up(busy(1000), profile(warmup_ms=2, warmup_runs=1000))
    assert runs < 1000 and time.perf_counter() - start < 0.2


def test_timed_runs_need_both_count_and_time():
    assert len(timed_runs(wall_clock(busy(1)), profile(min_repeats=30, min_time_ms=0))) >= 30
    samples = timed_runs(wall_clock(busy(200)), profile(min_repeats=1, min_time_ms=10))
    assert sum(samples) >= 10 and len(samples) > 1


def test_steady_work_is_not_noisy():
    result = run_protocol(busy(200), profile(max_cv=0.5))
    assert result.count >= 5 and result.median_ms >= 0.2 and not result.noisy and result.retries == 0


def test_uneven_work_is_retried_then_flagged_noisy():
    state = {"calls": 0}

    def uneven():
        state["calls"] += 1
        busy(50 if state["calls"] % 2 else 1000)()

    result = run_protocol(uneven, profile(max_cv=0.05, max_retries=2, min_repeats=10))
    assert result.noisy and result.retries == 2 and result.cv > 0.05


def test_a_backend_clock_replaces_the_host_clock():
    """GPU backends time with CUDA events: the protocol summarises whatever durations time_run reports."""
    reported = iter([2_000_000, 3_000_000] * 50)  # ns, alternating 2 ms / 3 ms
    result = run_protocol(busy(1), profile(min_repeats=10, min_time_ms=0, max_cv=1.0), time_run=lambda: next(reported))
    assert result.count == 10 and result.median_ms == pytest.approx(2.5)


@pytest.mark.skipif(not affinity_supported(), reason="this OS has no CPU affinity API")
def test_pinned_to_pins_and_restores_even_on_error():
    before = os.sched_getaffinity(0)
    core = min(before)
    with pytest.raises(RuntimeError):
        with pinned_to((core,)):
            assert os.sched_getaffinity(0) == {core}
            raise RuntimeError("boom")
    assert os.sched_getaffinity(0) == before
