"""The ONNX Runtime backend timing real ONNX models. The contract every registered backend keeps is
tests/contracts/test_backend_contract.py."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hw_profiles import HardwareProfile, Measurement, ProfileError, create_backend
from hw_profiles.affinity import affinity_supported
from nas.registry import RegistryError

INPUT_FEATURES = 64


def mlp_onnx(path, hidden, inputs=INPUT_FEATURES, outputs=10):
    """Linear(inputs, hidden) -> ReLU -> Linear(hidden, outputs), batch dimension dynamic."""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((inputs, hidden)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(hidden, np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((hidden, outputs)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(outputs, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    return mlp_onnx(tmp_path_factory.mktemp("onnx") / "small.onnx", hidden=8)  # ~0.6k MACs


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    return mlp_onnx(tmp_path_factory.mktemp("onnx") / "big.onnx", hidden=16384)  # ~1.2M MACs, ~2000x


def fast_profile(**overrides):
    settings = dict(name="test-fast", backend="onnxruntime", warmup_ms=5, warmup_runs=3, min_repeats=5, min_time_ms=20)
    return HardwareProfile(**{**settings, **overrides})


def test_measures_a_real_model(small_model):
    result = create_backend(fast_profile()).measure(small_model, (INPUT_FEATURES,))
    assert isinstance(result, Measurement)
    assert result.median_ms > 0 and result.mean_ms > 0 and result.iqr_ms >= 0
    assert result.count >= 5


def test_bigger_model_is_slower(small_model, big_model):
    backend = create_backend(fast_profile())
    small = backend.measure(small_model, (INPUT_FEATURES,))
    big = backend.measure(big_model, (INPUT_FEATURES,))
    assert big.median_ms > 3 * small.median_ms, (small, big)


def test_batch_size_comes_from_the_profile(small_model):
    result = create_backend(fast_profile(batch_size=4)).measure(small_model, (INPUT_FEATURES,))
    assert result.median_ms > 0


def test_wrong_input_shape_is_explained(small_model):
    with pytest.raises(ValueError, match="input 'x' has shape"):
        create_backend(fast_profile()).measure(small_model, (INPUT_FEATURES + 1,))


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_backend(fast_profile()).measure(tmp_path / "none.onnx", (INPUT_FEATURES,))


@pytest.mark.skipif(not affinity_supported(), reason="this OS has no CPU affinity API")
def test_affinity_is_restored_after_measuring(small_model):
    before = os.sched_getaffinity(0)
    create_backend(fast_profile(cores=(max(before),))).measure(small_model, (INPUT_FEATURES,))
    assert os.sched_getaffinity(0) == before


@pytest.mark.skipif(not affinity_supported(), reason="this OS has no CPU affinity API")
def test_unavailable_core_is_a_profile_error(small_model):
    backend = create_backend(fast_profile(cores=(100_000,)))
    assert backend.available()[0] is False
    with pytest.raises(ProfileError, match="field 'cores'"):
        backend.measure(small_model, (INPUT_FEATURES,))


def test_unavailable_provider_names_the_available_ones(small_model):
    backend = create_backend(fast_profile(providers=("NoSuchExecutionProvider",)))
    ok, reason = backend.available()
    assert not ok and "CPUExecutionProvider" in reason
    with pytest.raises(ProfileError, match="field 'providers'.*CPUExecutionProvider"):
        backend.measure(small_model, (INPUT_FEATURES,))


def test_unknown_backend_lists_registered_names():
    from hw_profiles.backends import backend_class

    with pytest.raises(RegistryError, match="unknown backend 'tensorflow'; known: onnxruntime"):
        backend_class("tensorflow")
