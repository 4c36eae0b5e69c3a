"""Issue #24 (10): with RAY_ADDRESS set (as `ray job submit` sets it), `--workers N` joins that cluster
instead of asking Ray to start one with num_cpus, which Ray refuses when an address is known."""

import importlib.util
import subprocess
import sys

import pytest

from hw_profiles import ProfileError, load_profile
from hw_profiles.ray_pool import RayPool

HEAD = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes it; ray.shutdown at exit stops this cluster only
"""


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_workers_join_the_cluster_named_by_ray_address(monkeypatch):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        address = "127.0.0.1:" + head.stdout.readline().strip().rsplit(":", 1)[-1]
        assert address, "the Ray head did not start"
        monkeypatch.setenv("RAY_ADDRESS", address)
        try:
            with RayPool(load_profile("x86-cpu-ort"), workers=1) as pool:
                assert ray.get_runtime_context().gcs_address.endswith(address.rsplit(":", 1)[-1])
                assert len(pool._workers) == 1
        except ProfileError as error:
            # Where the head advertises an address this process cannot reach (seen on a sandbox whose node IP
            # is 192.0.2.2), joining fails; it must fail as a join of RAY_ADDRESS's cluster, never as Ray's
            # refusal of num_cpus ("When connecting to an existing cluster, num_cpus ... must not be provided").
            assert f"cannot join the Ray cluster named by RAY_ADDRESS={address!r}" in str(error)
            assert "num_cpus" not in str(error)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.stdin.close()
        head.wait(timeout=120)
