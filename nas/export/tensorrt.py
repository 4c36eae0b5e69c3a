"""The ``tensorrt`` export format: a serialized TensorRT engine (a plan) of the network's fp32 graph.

The engine is built by the tensorrt backend (`TensorRTBackend.build_engine`), exactly as that backend
builds the engines it times, with the run's profile when its backend is ``tensorrt`` and otherwise
with the bundled ``nvidia-gpu-trt-fp16`` profile (FP16 allowed). The plan is checked by running it on the
test split (fixed batch: the profile's batch size) against torch, and timed with
`TensorRTBackend.measure_engine`. A plan only runs on the GPU model and TensorRT version that built
it; the card records both (the profile fingerprint covers them).

TensorRT cannot be installed on the machines hwnas is developed on: this module is written against
TensorRT's documented Python API (10.x: `deserialize_cuda_engine`, `set_input_shape`,
`set_tensor_address`, `execute_async_v3`) and is UNTESTED there; without TensorRT the format is
skipped and the card says why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.batches import input_batches
from nas.models.evaluate import predict_logits
from nas.export.formats import (
    ACCURACY_TOLERANCE,
    FP16_RELATIVE_TOLERANCE,
    ExportFormat,
    comparison,
    float_network,
    register_format,
)
from nas.models.onnx_export import export_onnx
from nas.profiling.profiler import input_spec
from nas.run_folder import write_atomically

DEFAULT_TENSORRT_PROFILE = "nvidia-gpu-trt-fp16"


def tensorrt_profile(profile: Any) -> Any:
    """The profile that builds and times plans: the run's if it is a TensorRT one, else the bundled one."""
    from hw_profiles import load_profile

    return profile if profile.backend == "tensorrt" else load_profile(DEFAULT_TENSORRT_PROFILE)


@register_format("tensorrt")
class TensorRTPlan(ExportFormat):
    """A TensorRT plan built from the fp32 graph (TensorRT picks fp16 kernels where its profile allows)."""

    suffix = ".plan"
    onnx_metadata = False  # a plan has no metadata_props: its model card carries the record
    description = "a TensorRT engine (plan) of the fp32 graph, for the GPU and TensorRT that built it"

    def __init__(self) -> None:
        self.profile: Any = None  # the TensorRT profile, set by `unavailable`

    def unavailable(self, space: Any, profile: Any) -> str | None:
        from hw_profiles import create_backend

        self.profile = tensorrt_profile(profile)
        available, reason = create_backend(self.profile).available()
        return None if available else f"TensorRT cannot run here ({reason})"

    def _backend(self) -> Any:
        from hw_profiles import create_backend

        return create_backend(self.profile)

    def write(self, network: Any, input_shape: tuple[int, ...], path: Path, options: Any) -> Path:
        with tempfile.TemporaryDirectory(prefix="hwnas-tensorrt-") as folder:
            onnx_path = export_onnx(float_network(network), input_shape, Path(folder) / "fp32.onnx",
                                    opset=options.opset, exporter=options.exporter)
            write_atomically(path, self._backend().build_engine(onnx_path, tuple(input_shape)))
        return path

    def verify(self, path: Path, network: Any, dataset: Any) -> dict:
        torch_logits = predict_logits(float_network(network), dataset.x_test)
        runtime_logits = plan_logits(self._backend(), path.read_bytes(), dataset.x_test, str(path))
        result = comparison(torch_logits, runtime_logits, dataset.y_test)
        tolerance = FP16_RELATIVE_TOLERANCE * float(np.abs(torch_logits).max())
        verified = (result["max_abs_logit_difference"] <= tolerance
                    and abs(result["test_accuracy_torch"] - result["test_accuracy_runtime"]) <= ACCURACY_TOLERANCE)
        return {**result, "logit_tolerance": tolerance, "verified": bool(verified),
                "tensorrt_profile": self.profile.name}

    def measure(self, path: Path, network: Any, profiler: Any, key: str) -> tuple[Any, Any]:
        backend = self._backend()
        return backend.measure_engine(path.read_bytes(), input_spec(profiler.space), str(path)), self.profile


def plan_logits(backend: Any, plan: bytes, images: Any, label: str) -> np.ndarray:
    """Logits of a serialized engine on `images` (an array or a Dataset of samples), run in chunks of the
    profile's (fixed) batch size."""
    import torch

    engine = backend.load_engine(plan, label)  # a one-line ProfileError where TensorRT cannot run
    import tensorrt

    context = engine.create_execution_context()
    names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
    input_name = next(name for name in names if engine.get_tensor_mode(name) == tensorrt.TensorIOMode.INPUT)
    output_name = next(name for name in names if name != input_name)
    batch = backend.profile.batch_size
    device = torch.device("cuda", 0)
    stream = torch.cuda.Stream(device)
    input_dtype = torch.float16 if engine.get_tensor_dtype(input_name) == tensorrt.float16 else torch.float32
    outputs = []
    for chunk in input_batches(images, batch):
        padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        source = torch.from_numpy(padded).to(device=device, dtype=input_dtype).contiguous()
        context.set_input_shape(input_name, tuple(source.shape))
        output_dtype = torch.float16 if engine.get_tensor_dtype(output_name) == tensorrt.float16 else torch.float32
        target = torch.empty(tuple(context.get_tensor_shape(output_name)), device=device, dtype=output_dtype)
        context.set_tensor_address(input_name, source.data_ptr())
        context.set_tensor_address(output_name, target.data_ptr())
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execute_async_v3 failed for {label}")
        stream.synchronize()
        outputs.append(target.float().cpu().numpy()[: len(chunk)])
    return np.concatenate(outputs)

