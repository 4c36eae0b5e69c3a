"""GPU backends on real sub-networks. Marked `gpu`: each test skips, saying why, where its runtime or a
CUDA GPU is missing (on the 2-core development machine all of them skip)."""

import pytest
import torch

from hw_profiles import HardwareProfile, create_backend, load_profile
from hw_profiles.timing_task import TimingTask, run_task
from search_spaces import create_space

pytestmark = pytest.mark.gpu

INPUT_SHAPE = create_space("vit").input_shape
PROTOCOL = dict(warmup_ms=50, warmup_runs=5, min_repeats=50, min_time_ms=50, max_cv=0.2)


def backend_or_skip(profile_name, **overrides):
    profile = load_profile(profile_name)
    profile = HardwareProfile.from_dict({**profile.to_dict(), **PROTOCOL, **overrides}, source=profile_name)
    backend = create_backend(profile)
    available, reason = backend.available()
    if not available:
        pytest.skip(f"{profile_name} cannot run here: {reason}")
    return backend


@pytest.fixture(scope="module")
def vit_networks():
    """The largest and the smallest sub-network of a (randomly initialised) vit supernet."""
    space = create_space("vit")
    supernet = space.build_supernet().eval()
    return space, supernet.extract(space.largest()), supernet.extract(space.smallest())


@pytest.fixture(scope="module")
def vit_onnx(vit_networks, tmp_path_factory):
    from nas.models.onnx_export import export_onnx

    space, largest, smallest = vit_networks
    folder = tmp_path_factory.mktemp("gpu-onnx")
    return (export_onnx(largest, space.input_shape, folder / "largest.onnx"),
            export_onnx(smallest, space.input_shape, folder / "smallest.onnx"))


def test_torch_cuda_times_real_subnetworks_with_a_cuda_graph(vit_networks):
    backend = backend_or_skip("nvidia-gpu-torch")
    space, largest, smallest = vit_networks
    big = backend.measure(largest, space.input_shape)
    assert backend.last_used_cuda_graph is True
    small = backend.measure(smallest, space.input_shape)
    assert 0 < small.median_ms < big.median_ms, (small, big)
    assert small.count >= 50 and not big.noisy
    environment = backend.environment()
    assert environment["gpu"] != "unknown" and environment["gpu_driver"] != "unknown", environment


def test_torch_cuda_leaves_the_callers_module_on_the_cpu(vit_networks):
    backend = backend_or_skip("nvidia-gpu-torch")
    space, _, smallest = vit_networks
    backend.measure(smallest, space.input_shape)
    assert next(smallest.parameters()).device.type == "cpu"


def test_torch_cuda_through_a_timing_task(vit_networks):
    backend = backend_or_skip("nvidia-gpu-torch")
    space, _, smallest = vit_networks
    assert run_task(backend, TimingTask("smallest", smallest, space.input_shape)).median_ms > 0


def test_gpu_fingerprint_names_the_gpu():
    backend = backend_or_skip("nvidia-gpu-torch")
    details = backend.profile.fingerprint_details()
    assert details["environment"]["gpu"] == torch.cuda.get_device_name(0)


def test_onnxruntime_cuda_provider(vit_onnx):
    backend = backend_or_skip("nvidia-gpu-ort-cuda")
    largest, smallest = vit_onnx
    assert 0 < backend.measure(smallest, INPUT_SHAPE).median_ms < backend.measure(largest, INPUT_SHAPE).median_ms


def test_tensorrt_builds_times_and_caches(vit_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path))
    backend = backend_or_skip("nvidia-gpu-trt-fp16")
    largest, smallest = vit_onnx
    small = backend.measure(smallest, INPUT_SHAPE)
    assert backend.timing_cache_path().is_file()
    assert 0 < small.median_ms < backend.measure(largest, INPUT_SHAPE).median_ms


def test_tensorrt_int8_builds_an_engine_from_explicit_qdq(tmp_path, monkeypatch):
    from nas.models.onnx_export import export_onnx

    monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path))
    backend = backend_or_skip("nvidia-gpu-trt-int8")
    space = create_space("vit", precisions=["fp32", "int8"], int8_scheme="trt-qdq")
    supernet = space.build_supernet().eval()
    fp32 = export_onnx(supernet.extract(space.largest()), space.input_shape, tmp_path / "fp32.onnx")
    int8 = export_onnx(supernet.extract(space.at_precision(space.largest(), "int8")), space.input_shape,
                       tmp_path / "int8.onnx")
    assert backend.measure(int8, space.input_shape).median_ms > 0
    assert backend.measure(fp32, space.input_shape).median_ms > 0


@pytest.mark.parametrize("space_name", ["vit", "mbv3", "text_encoder"])
def test_torch_cuda_profiles_every_family_through_the_profiler(space_name, tmp_path):
    """The path `hwnas profile` takes on a GPU: extract, time the module on CUDA (the text encoder on int64
    token ids from its InputSpec), store the measurement under the GPU's fingerprint."""
    from hw_profiles import MeasurementStore
    from nas.profiling.profiler import Profiler

    backend = backend_or_skip("nvidia-gpu-torch")
    space = create_space(space_name)
    profiler = Profiler(space, space.build_supernet().eval(), backend.profile, MeasurementStore(tmp_path / "m.db"))
    small, big = profiler.measure_all([space.smallest(), space.largest()], progress=False)
    assert 0 < small.latency_ms < big.latency_ms, (small.latency_ms, big.latency_ms)
    assert sorted(record.config_id for record in profiler.records()) == sorted([small.config_id, big.config_id])
    assert profiler.fingerprint == backend.profile.fingerprint()


@pytest.mark.parametrize("space_name", ["vit", "text_encoder"])
def test_torch_cuda_times_a_half_precision_module(space_name):
    """A profile whose only precision is fp16 times the module cast to half (token ids stay int64)."""
    from nas.profiling.profiler import input_spec

    backend = backend_or_skip("nvidia-gpu-torch", precisions=["fp16"])
    space = create_space(space_name)
    network = space.build_supernet().eval().extract(space.largest())
    assert backend.measure(network, input_spec(space)).median_ms > 0
    assert next(network.parameters()).dtype == torch.float32  # the caller's module is left as it was
