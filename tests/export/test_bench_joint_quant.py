"""scripts/bench_joint_quant.py's timing of the largest network at fp32 and int8, on a real run."""

import importlib.util
import shutil
from pathlib import Path

import numpy as np


def _script():
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_joint_quant.py"
    spec = importlib.util.spec_from_file_location("bench_joint_quant", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingProfiler:
    """A profiler whose backends (a fresh real one per use, as the profiler's own) note each file timed."""

    def __init__(self, profiler):
        self.profiler, self.timed = profiler, []

    @property
    def backend(self):
        return RecordingBackend(self.profiler.backend, self.timed)


class RecordingBackend:
    def __init__(self, backend, timed):
        self.backend, self.timed = backend, timed

    def measure(self, path, input_shape):
        self.timed.append(Path(path).stem)
        return self.backend.measure(path, input_shape)


def test_largest_network_is_timed_at_fp32_and_int8_in_turns(trained_digits_run, tmp_path):
    from nas import pipeline
    from nas.run_folder import RunFolder

    run = RunFolder(shutil.copytree(trained_digits_run, tmp_path / "run"))  # its measurements stay out of the shared run
    space, supernet, dataset = pipeline.open_run(run)
    profiler = RecordingProfiler(pipeline.run_profiler(run, space, supernet))
    result = _script()._largest_speedup(space, supernet, dataset, profiler, sessions=3)
    # in turns, so that a slow spell of a shared machine slows both precisions alike
    assert profiler.timed == ["fp32", "int8"] * 3
    for precision in ("fp32", "int8"):
        assert len(result[precision]["session_medians_ms"]) == 3
        assert result[precision]["median_ms"] == np.median(result[precision]["session_medians_ms"]) > 0
        assert result[precision]["test_accuracy_torch"] == result[precision]["test_accuracy_onnxruntime"]
    assert result["int8"]["integer_kernels"] and not result["fp32"]["integer_kernels"]
    assert result["speedup"] == result["fp32"]["median_ms"] / result["int8"]["median_ms"]
