"""The interleaved protocol: a candidate timed run for run beside a fixed reference network, ranked by the
ratio of the two, which a slow drift of the core's speed does not move."""

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from hw_profiles import HardwareProfile, MeasurementStore, ProfileError, create_backend, load_profile
from hw_profiles.measurement import Measurement
from hw_profiles.protocol import run_interleaved
from hw_profiles.ratio import MIN_WINDOWS, estimate_ratio, median_interval
from hw_profiles.reference import baseline_path, load_or_calibrate, reference_model_bytes, reference_sha256


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test calibrates into its own cache folder (never the user's ~/.cache/hwnas)."""
    monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path / "cache"))


def spin(seconds: float) -> None:
    """Busy-wait: on a loaded machine a sleeping thread may wait a whole time slice to wake, a spinning one
    is only preempted now and then, which the protocol's windows absorb."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def drifting_timings(true_ratio: float, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired run times on a core whose speed drifts slowly by up to 1.6x (a sine over the run plus a step),
    with 3% run-to-run noise and a few preempted runs; the candidate takes `true_ratio` x the reference."""
    generator = np.random.default_rng(seed)
    position = np.arange(pairs) / pairs
    slowdown = 1.0 + 0.3 * (1 + np.sin(2 * np.pi * 1.5 * position + seed)) + 0.2 * (position > 0.6)
    reference = 0.5 * slowdown * (1 + 0.03 * generator.standard_normal(pairs))
    candidate = 0.5 * true_ratio * slowdown * (1 + 0.03 * generator.standard_normal(pairs))
    spikes = generator.choice(pairs, size=pairs // 50, replace=False)
    candidate[spikes] *= 3.0  # preempted runs
    return candidate, reference


@pytest.mark.parametrize("seed", range(5))
def test_the_ratio_is_recovered_under_slow_drift_and_the_plain_median_is_not(seed):
    true_ratio = 1.7
    candidate, reference = drifting_timings(true_ratio, pairs=600, seed=seed)
    estimate = estimate_ratio(candidate, reference, window=10)
    assert abs(estimate.ratio / true_ratio - 1) < 0.01
    assert estimate.low <= estimate.ratio <= estimate.high and estimate.half_width < 0.02
    # The plain median of the candidate alone carries the drift: far from 1.7 x 0.5 ms.
    assert abs(np.median(candidate) / (true_ratio * 0.5) - 1) > 0.10


def test_the_median_interval_covers_as_promised():
    """Order-statistic intervals of a median: about 95% of them cover the true median (here 0)."""
    generator = np.random.default_rng(0)
    covered = [low <= 0 <= high for low, high in (median_interval(generator.standard_normal(15)) for _ in range(2000))]
    assert 0.94 <= np.mean(covered) <= 0.99
    assert median_interval([1.0] * (MIN_WINDOWS - 1)) == (-math.inf, math.inf)  # too few for a 95% interval


def test_the_reference_is_one_fixed_model_with_a_recorded_sha256():
    assert reference_model_bytes() == reference_model_bytes()
    assert reference_sha256() == hashlib.sha256(reference_model_bytes()).hexdigest()
    # The same bytes in a fresh interpreter: the reference does not depend on the process.
    code = "from hw_profiles.reference import reference_sha256; print(reference_sha256())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == reference_sha256()


def test_the_baseline_is_calibrated_once_per_machine_and_profile_and_stored():
    calls = []

    def run_reference():
        calls.append(1)
        time.sleep(0.0005)

    first = load_or_calibrate("fingerprint-a", run_reference)
    assert 0.4 < first["baseline_ms"] < 5 and first["reference_sha256"] == reference_sha256()
    stored = json.loads(baseline_path("fingerprint-a").read_text())
    assert stored["baseline_ms"] == first["baseline_ms"]
    runs = len(calls)
    assert load_or_calibrate("fingerprint-a", run_reference) == first and len(calls) == runs  # not again
    assert load_or_calibrate("fingerprint-b", run_reference)["fingerprint"] == "fingerprint-b"


def test_a_damaged_baseline_file_is_calibrated_again():
    load_or_calibrate("fingerprint-a", lambda: time.sleep(0.0003))
    baseline_path("fingerprint-a").write_text('{"baseline_ms": -1}')
    assert load_or_calibrate("fingerprint-a", lambda: time.sleep(0.0003))["baseline_ms"] > 0


def test_the_protocol_stops_when_the_ratio_is_known_and_reports_milliseconds_on_the_baseline():
    profile = load_profile("x86-cpu-ort")
    measurement = run_interleaved(lambda: spin(0.0010), lambda: spin(0.0005), profile, baseline_ms=2.0)
    assert measurement.protocol == "interleaved" and not measurement.noisy
    assert measurement.ratio_half_width <= profile.target_half_width
    assert measurement.median_ms == pytest.approx(measurement.ratio * 2.0)
    assert 1.8 < measurement.ratio < 2.2
    assert measurement.count >= profile.min_repeats


def test_the_probe_times_the_reference_back_to_back_after_the_windows():
    """A reference that runs slower within a few runs of a candidate (its weights evicted) than back to back:
    the in-window reference shows the eviction, the probe does not."""
    previous = []

    def candidate():
        previous.append("candidate")
        spin(0.0008)

    def reference():
        warm = previous[-2:] == ["reference", "reference"]  # only runs back to back keep its weights warm
        spin(0.0003 if warm else 0.003)
        previous.append("reference")

    measurement = run_interleaved(candidate, reference, load_profile("x86-cpu-ort"), baseline_ms=1.0,
                                  probe_baseline_ms=0.45)
    assert measurement.probe_baseline_ms == 0.45
    assert measurement.probe_ms < measurement.reference_ms / 2, measurement  # about 0.3 and 3 ms


def test_a_baseline_file_without_the_probe_baseline_is_calibrated_again():
    first = load_or_calibrate("fingerprint-a", lambda: time.sleep(0.0003))
    assert 0.2 < first["probe_baseline_ms"] < 5
    old = {key: value for key, value in first.items() if key != "probe_baseline_ms"}
    baseline_path("fingerprint-a").write_text(json.dumps(old))
    assert "probe_baseline_ms" in load_or_calibrate("fingerprint-a", lambda: time.sleep(0.0003))


def test_several_sessions_take_the_windows_in_turn_and_one_slow_session_does_not_move_the_ratio():
    """Fresh sessions of one model differ in speed; with three, one 30% slower session is outvoted by the
    median window ratio, and every session (candidate and reference) is timed."""
    calls = {name: 0 for name in ("a", "b", "slow", "reference0", "reference1")}

    def timed(name, seconds):
        def run():
            calls[name] += 1
            spin(seconds)
        return run

    profile = load_profile("x86-cpu-ort")
    measurement = run_interleaved([timed("a", 0.001), timed("b", 0.001), timed("slow", 0.0013)],
                                  [timed("reference0", 0.0005), timed("reference1", 0.0005)], profile, baseline_ms=1.0)
    assert abs(measurement.ratio / 2.0 - 1) < 0.05  # the slow session alone would give 2.6
    assert min(calls.values()) >= 4
    with pytest.raises(ProfileError, match="field 'sessions' must be"):
        HardwareProfile.from_dict({"name": "x", "backend": "onnxruntime", "sessions": 0})


def test_a_ratio_that_never_settles_is_flagged_noisy_at_the_time_cap():
    generator = np.random.default_rng(0)
    profile = dataclasses.replace(load_profile("x86-cpu-ort"), max_time_ms=300, target_half_width=0.001)
    started = time.perf_counter()
    measurement = run_interleaved(lambda: time.sleep(0.0002 * generator.uniform(1, 6)), lambda: time.sleep(0.0002),
                                  profile, baseline_ms=1.0)
    assert measurement.noisy and measurement.ratio_half_width > 0.001
    assert time.perf_counter() - started < 2.0


def test_cpu_profiles_default_to_interleaved_and_gpu_profiles_to_plain():
    assert load_profile("x86-cpu-ort").protocol == "interleaved"
    assert load_profile("x86-cpu-ort-4t").protocol == "interleaved"
    for name in ("nvidia-gpu-torch", "nvidia-gpu-ort-cuda", "nvidia-gpu-trt-fp16"):
        assert load_profile(name).protocol == "plain"
    with pytest.raises(ProfileError, match="field 'protocol' must be one of"):
        HardwareProfile.from_dict({"name": "x", "backend": "onnxruntime", "protocol": "fast"})
    with pytest.raises(ProfileError, match="field 'target_half_width' must be a number between 0 and 1"):
        HardwareProfile.from_dict({"name": "x", "backend": "onnxruntime", "target_half_width": 2})


def test_a_plain_profile_keeps_its_fingerprint_and_measures_as_before(tmp_path):
    """`protocol: plain` is today's protocol: the same fingerprint as a profile made before protocols existed
    (their stored measurements stay valid), and measurements without a reference."""
    plain = dataclasses.replace(load_profile("x86-cpu-ort"), protocol="plain", min_repeats=10, min_time_ms=20,
                                batch_size=32)  # the reference takes 32 rows
    details = plain.fingerprint_details()["profile"]
    assert "protocol" not in details and "reference_sha256" not in details
    interleaved = load_profile("x86-cpu-ort")
    assert interleaved.fingerprint_details()["profile"]["reference_sha256"] == reference_sha256()
    assert interleaved.fingerprint() != dataclasses.replace(interleaved, protocol="plain").fingerprint()
    path = tmp_path / "reference.onnx"
    path.write_bytes(reference_model_bytes())
    measurement = create_backend(plain).measure(path, (256,))  # the reference's own (32, 256) input
    assert measurement.protocol == "plain" and measurement.ratio is None and measurement.reference_ms is None
    assert not (tmp_path / "cache").exists()  # no calibration under the plain protocol


def test_the_store_keeps_the_reference_timings_as_a_drift_log(tmp_path):
    measurement = dataclasses.replace(Measurement.from_samples([1.0, 1.1, 0.9]), protocol="interleaved",
                                      ratio=2.0, ratio_half_width=0.01, raw_median_ms=1.0, reference_ms=0.55,
                                      reference_baseline_ms=0.5)
    with MeasurementStore(tmp_path / "m.db") as store:
        assert store.put("fp", "vit", "a", {"depth": 1}, measurement)
        store.log_reference("fp", "vit", "a", measurement)  # a re-timing of the same network
        store.put("fp", "vit", "b", {"depth": 2}, Measurement.from_samples([1.0]))  # plain: not logged
        log = store.reference_log("fp")
    assert [row["key"] for row in log] == ["a", "a"]
    assert log[0]["reference_ms"] == 0.55 and log[0]["baseline_ms"] == 0.5 and log[0]["ratio"] == 2.0
    assert Measurement.from_dict(measurement.to_dict()) == measurement


def _busy_loop(seconds: float, core: int) -> None:
    os.sched_setaffinity(0, {core})
    deadline = time.perf_counter() + seconds
    a = np.random.default_rng(0).standard_normal((300, 300))
    while time.perf_counter() < deadline:
        a = np.tanh(a @ a.T / 300)


@pytest.mark.slow
def test_test_retest_holds_beside_a_cpu_bound_neighbour(tmp_path):
    """Four ViTs measured twice, the second time with a CPU-bound process on the other core: their
    milliseconds agree within a bound, and where the neighbour slowed the core, far better than the raw
    medians do."""
    import torch

    from nas.models.onnx_export import export_onnx
    from nas.profiling.profiler import precision_arguments
    from nas.profiling.space_reference import reference_model
    from search_spaces import create_space

    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.fail("this test needs two cores: one for the measurements, one for the neighbour")
    load = os.getloadavg()[0]
    if load > len(allowed) + 0.5:  # more runnable work than cores already: not the condition under test
        pytest.skip(f"the machine is already oversubscribed (load average {load:.1f} on {len(allowed)} cores); "
                    f"this test measures beside exactly one CPU-bound neighbour")
    profile = dataclasses.replace(load_profile("x86-cpu-ort"), cores=(allowed[0],))
    torch.manual_seed(0)
    space = create_space("vit", **precision_arguments(profile, "vit"))
    supernet = space.build_supernet().eval()
    generator = np.random.default_rng(0)
    configs = [space.largest(), space.smallest()] + [space.sample(generator) for _ in range(2)]
    paths = [export_onnx(supernet.extract(c), space.input_shape, tmp_path / f"{i}.onnx") for i, c in enumerate(configs)]
    backend = create_backend(profile)
    reference = reference_model(space)  # as profiling times them: beside the space's middle network
    quiet = [backend.measure(path, space.input_shape, reference=reference) for path in paths]
    neighbour = multiprocessing.get_context("spawn").Process(target=_busy_loop, args=(60.0, allowed[1]))
    neighbour.start()
    try:
        time.sleep(0.5)
        loaded = [backend.measure(path, space.input_shape, reference=reference) for path in paths]
    finally:
        neighbour.terminate()
        neighbour.join()
    spreads = [abs(a.median_ms - b.median_ms) / b.median_ms for a, b in zip(quiet, loaded)]
    raw = [abs(a.raw_median_ms - b.raw_median_ms) / b.raw_median_ms for a, b in zip(quiet, loaded)]
    slowdown = np.median([b.reference_ms / a.reference_ms for a, b in zip(quiet, loaded)])
    # What the protocol promises, not the benchmark's target (scripts/bench_profiling.py reports that): the
    # neighbour contends for the shared cache and memory bus and slows a ViT more than the small reference, so
    # the ratio removes most, not all, of its effect (a CI run: 11% median spread beside 30% raw); and fresh
    # sessions of one model differ by a few percent (docs/guide/hardware-profiles.md).
    assert np.median(spreads) < 0.20, (spreads, raw)
    if slowdown > 1.10:  # the neighbour slowed the core noticeably: the ratio must have taken most of it out
        assert np.median(spreads) < 0.6 * np.median(raw), (spreads, raw, slowdown)
    assert all(m.protocol == "interleaved" for m in quiet + loaded)
