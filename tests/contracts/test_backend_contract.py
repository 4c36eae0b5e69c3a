"""The timing-backend contract, run over every registered backend (`BACKENDS.names()` at collection time, so a
newly registered backend is tested without anyone listing it): a backend is a `Backend` that knows its name,
model format and whether it uses a GPU, and says whether it can run here. One that can times a small model
(an ONNX file, or a torch module for "torch" backends) and returns a Measurement with a positive median; one
that cannot (tensorrt without TensorRT, torch-cuda without CUDA) is not skipped: its reason and its refusal
to measure (a ProfileError) must each be one line.

`check_backend(name, folder)` is the whole check; tests/contracts/test_registry.py calls it on a throwaway
backend registered for the test.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hw_profiles import Backend, HardwareProfile, Measurement, ProfileError, backend_names, create_backend

INPUT_FEATURES, OUTPUT_FEATURES = 16, 4
FAST_TIMING = dict(warmup_ms=5, warmup_runs=3, min_repeats=5, min_time_ms=20)  # a contract, not a benchmark


def linear_onnx(path: Path) -> Path:
    """y = x @ w + b with a dynamic batch dimension: the smallest model every ONNX runtime runs."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((INPUT_FEATURES, OUTPUT_FEATURES)).astype(np.float32), "w"),
               numpy_helper.from_array(np.zeros(OUTPUT_FEATURES, np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
    graph = helper.make_graph(nodes, "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", INPUT_FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", OUTPUT_FEATURES])],
                              initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def small_model(backend: Backend, folder: Path):
    """What `backend.measure` takes: a torch module for "torch" backends, else an ONNX file's path."""
    if backend.model_format == "torch":
        import torch

        return torch.nn.Linear(INPUT_FEATURES, OUTPUT_FEATURES)
    return linear_onnx(folder / "linear.onnx")


def check_backend(name: str, folder: Path) -> str:
    """The contract on the registered backend `name`: 'measured', or 'unavailable' after checking that it
    says why, and refuses to measure, in one line each."""
    backend = create_backend(HardwareProfile(name="contract", backend=name, **FAST_TIMING))
    assert isinstance(backend, Backend) and type(backend).name == name
    assert backend.model_format in ("onnx", "torch") and isinstance(backend.uses_gpu(), bool)
    available, reason = backend.available()
    assert isinstance(available, bool) and isinstance(reason, str)
    model = small_model(backend, folder)
    if not available:
        assert reason.strip() and "\n" not in reason, f"backend {name!r} is unavailable with reason {reason!r}"
        with pytest.raises(ProfileError) as refusal:
            backend.measure(model, (INPUT_FEATURES,))
        assert str(refusal.value).strip() and "\n" not in str(refusal.value), str(refusal.value)
        return "unavailable"
    json.dumps(backend.environment())  # what the profile fingerprint hashes must be JSON
    measurement = backend.measure(model, (INPUT_FEATURES,))
    assert isinstance(measurement, Measurement)
    assert measurement.median_ms > 0 and measurement.count >= FAST_TIMING["min_repeats"]
    return "measured"


@pytest.mark.parametrize("name", backend_names())
def test_every_backend_measures_or_says_why_not(name, tmp_path):
    check_backend(name, tmp_path)


def test_onnxruntime_measures_here():
    """The contract's "measured" branch is exercised on every machine: ONNX Runtime on the CPU runs anywhere."""
    assert create_backend(HardwareProfile(name="contract", backend="onnxruntime")).available() == (True, "")
