"""The timing worker pool: core splitting, the in-process pool, and Ray actors (local instance) timing
real ONNX models, surviving a SIGKILLed worker and a hung task."""

import importlib.util
import os
import signal
import sys

import pytest

from hw_profiles import ProfileError
from hw_profiles.affinity import affinity_supported
from hw_profiles.in_process_pool import InProcessPool
from hw_profiles.ray_pool import RayPool
from hw_profiles.timing_task import TimingTask
from hw_profiles.pools import create_pool
from hw_profiles.worker_pool import worker_profiles
from test_hw_onnxruntime import INPUT_FEATURES, fast_profile, mlp_onnx

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")

HIDDEN_SIZES = (8, 32, 128, 4096)  # the largest is ~40x the smallest in work: an ordering noise cannot flip
BROKEN_ONNX = b"this is not an ONNX file"


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """ONNX file bytes of small real MLPs, by hidden size."""
    folder = tmp_path_factory.mktemp("pool-models")
    return {hidden: mlp_onnx(folder / f"mlp{hidden}.onnx", hidden).read_bytes() for hidden in HIDDEN_SIZES}


def make_tasks(onnx_models, count, prefix="task"):
    return [TimingTask(f"{prefix}{index}", onnx_models[HIDDEN_SIZES[index % len(HIDDEN_SIZES)]], (INPUT_FEATURES,))
            for index in range(count)]


def counting(tasks, pulled):
    """Yield ``tasks``, appending each key to ``pulled`` as the pool takes it."""
    for task in tasks:
        pulled.append(task.key)
        yield task


# ---- worker_profiles and argument checks ----


@pytest.mark.skipif(not affinity_supported(), reason="this OS has no CPU affinity API")
def test_worker_profiles_split_the_allowed_cores():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two allowed cores")
    profiles = worker_profiles(fast_profile(), 2)
    assert [profile.cores for profile in profiles] == [(allowed[0],), (allowed[1],)]
    assert len({profile.fingerprint() for profile in profiles}) == 1  # cores are not part of it


def test_worker_profiles_split_the_given_cores():
    profiles = worker_profiles(fast_profile(threads=2, cores=(7, 5, 3, 1, 9)), 2)
    assert [profile.cores for profile in profiles] == [(7, 5), (3, 1)]
    assert all(profile.threads == 2 and profile.name == "test-fast" for profile in profiles)


def test_too_few_cores_say_how_many_are_needed():
    with pytest.raises(ProfileError, match="need 6 cores, but field 'cores' lists only 4"):
        worker_profiles(fast_profile(threads=2, cores=(0, 1, 2, 3)), 3)
    if affinity_supported():
        allowed = len(os.sched_getaffinity(0))
        with pytest.raises(ProfileError, match=f"need {allowed + 1} cores, but this process may use only {allowed}"):
            worker_profiles(fast_profile(), allowed + 1)


@pytest.mark.parametrize("make", [lambda: worker_profiles(fast_profile(), 0), lambda: InProcessPool(fast_profile(), 0),
                                  lambda: create_pool(fast_profile(), workers=0)])
def test_zero_workers_is_refused(make):
    with pytest.raises(ProfileError, match="workers must be a positive integer, got 0"):
        make()


def test_in_process_pool_has_one_worker():
    with pytest.raises(ProfileError, match="exactly one worker.*Ray"):
        InProcessPool(fast_profile(), workers=2)


def test_create_pool_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ProfileError, match=r"--workers 2 needs Ray: pip install 'hwnas\[ray\]'"):
        create_pool(fast_profile(), workers=2)


# ---- the in-process pool ----


def test_in_process_pool_times_real_models_lazily(onnx_models):
    tasks, pulled = make_tasks(onnx_models, 6), []
    with create_pool(fast_profile()) as pool:
        assert isinstance(pool, InProcessPool) and pool.workers == 1
        assert pool.fingerprint() == fast_profile().fingerprint()
        results = []
        for result in pool.run(counting(tasks, pulled)):
            assert len(pulled) == len(results) + 1  # the next task is pulled only after this result
            results.append(result)
    assert [result.key for result in results] == [task.key for task in tasks]
    assert all(result.ok and result.measurement.median_ms > 0 and result.attempts == 1 for result in results)
    by_key = {result.key: result.measurement.median_ms for result in results}
    assert by_key["task3"] > by_key["task0"]  # hidden 4096 vs 8


def test_in_process_pool_reports_a_broken_model_and_goes_on(onnx_models):
    tasks = [TimingTask("broken", BROKEN_ONNX, (INPUT_FEATURES,)), *make_tasks(onnx_models, 2)]
    with InProcessPool(fast_profile()) as pool:
        results = list(pool.run(tasks))
    assert [result.key for result in results] == ["broken", "task0", "task1"]
    broken = results[0]
    assert not broken.ok and broken.measurement is None and broken.error.split(":")[0].isidentifier()
    assert "\n" not in broken.error
    assert results[1].ok and results[2].ok


# ---- the Ray pool ----


@needs_ray
def test_ray_pool_starts_and_stops_its_own_ray():
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance already runs in this process")
    with create_pool(fast_profile(), workers=2) as pool:
        assert isinstance(pool, RayPool) and ray.is_initialized()
        assert len(set(pool.worker_pids())) == 2
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module; pools join it (and leave it running when they close)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance already runs in this process")
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_pool(ray_instance):
    with RayPool(fast_profile(), workers=2) as pool:
        yield pool
    assert ray_instance.is_initialized()  # the pool did not start this Ray instance, so it leaves it running


def test_ray_pool_times_every_task_once(ray_pool, onnx_models):
    tasks = [*make_tasks(onnx_models, 10), TimingTask("broken", BROKEN_ONNX, (INPUT_FEATURES,))]
    pulled, results = [], []
    for result in ray_pool.run(counting(tasks, pulled)):
        assert len(pulled) - len(results) <= 2 * ray_pool.workers  # never more than 2 in flight per worker
        results.append(result)
    assert sorted(result.key for result in results) == sorted(task.key for task in tasks)
    by_key = {result.key: result for result in results}
    assert not by_key.pop("broken").ok
    assert all(result.ok and result.measurement.median_ms > 0 and result.attempts == 1 for result in by_key.values())
    assert {result.worker for result in results} == {0, 1}
    assert ray_pool.fingerprint() == fast_profile().fingerprint()


def test_ray_pool_survives_a_killed_worker(ray_pool, onnx_models):
    tasks = make_tasks(onnx_models, 16, prefix="fault")
    pids_before = ray_pool.worker_pids()
    results = []
    for result in ray_pool.run(tasks):
        if not results:
            os.kill(pids_before[0], signal.SIGKILL)
        results.append(result)
    assert sorted(result.key for result in results) == sorted(task.key for task in tasks)
    assert all(result.ok for result in results), [result.error for result in results if not result.ok]
    pids_after = ray_pool.worker_pids()
    assert pids_after[0] != pids_before[0] and pids_after[1] == pids_before[1]
    assert any(result.attempts >= 2 for result in results)


def test_ray_pool_retries_a_hung_task_then_reports_it(ray_instance, onnx_models):
    slow_profile = fast_profile(min_time_ms=3000)  # each timing takes >= 3 s
    with RayPool(slow_profile, workers=1, task_timeout_s=0.5, max_attempts=2) as pool:
        pid_before = pool.worker_pids()[0]
        results = list(pool.run(make_tasks(onnx_models, 1, prefix="slow")))
        assert pool.worker_pids()[0] != pid_before  # the hung actor was replaced
    [result] = results
    assert not result.ok and result.attempts == 2
    assert "died 2 time(s)" in result.error and "task_timeout_s=0.5" in result.error


def test_ray_pool_stopped_early_leaves_no_work_behind(ray_pool, onnx_models):
    run = ray_pool.run(make_tasks(onnx_models, 8, prefix="early"))
    first = next(run)
    run.close()  # the caller stops after one result; the pool restarts the busy workers
    assert first.ok
    results = list(ray_pool.run(make_tasks(onnx_models, 3, prefix="after")))
    assert sorted(result.key for result in results) == ["after0", "after1", "after2"]
    assert all(result.attempts == 1 for result in results)


def test_ray_pool_yields_the_taken_tasks_before_the_callers_error(ray_pool, onnx_models):
    def failing_export():
        yield from make_tasks(onnx_models, 3, prefix="taken")
        raise RuntimeError("export failed")

    results = []
    with pytest.raises(RuntimeError, match="export failed"):
        for result in ray_pool.run(failing_export()):
            results.append(result)
    assert sorted(result.key for result in results) == ["taken0", "taken1", "taken2"]
