"""tensorrt backend: builds a TensorRT engine from the ONNX file and times it with CUDA events.

Written against TensorRT's documented Python API (8.6 and 10.x: ``OnnxParser``,
``build_serialized_network``, ``ITimingCache``, ``set_tensor_address`` / ``execute_async_v3``). Device
buffers, the stream and the events come from torch (a CUDA build), which hwnas depends on anyway.
TensorRT cannot be installed on the machines hwnas is developed on: this backend is UNTESTED there
(see docs/profiling.md); ``available()`` reports why it cannot run.

Precision: ``fp16`` in the profile's precisions sets ``BuilderFlag.FP16``; ``int8`` sets
``BuilderFlag.INT8`` for explicitly quantized (Q/DQ) ONNX files. A timing cache per profile
fingerprint (``$HWNAS_CACHE_DIR``, default ``~/.cache/hwnas``, under ``tensorrt/``) makes later builds
of similar layers fast; it is written atomically after every build.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw_profiles.backends.base import Backend
from hw_profiles.backends.registry import register_backend
from hw_profiles.durable_files import write_durably
from hw_profiles.errors import ProfileError
from hw_profiles.gpu import cuda_event_timer, gpu_environment, seeded_model_input, torch_cuda_unavailable_reason
from hw_profiles.model_input import InputSpec, as_input_spec
from hw_profiles.protocol import run_protocol

if TYPE_CHECKING:
    from hw_profiles.measurement import Measurement

WORKSPACE_BYTES = 1 << 30  # builder scratch memory


def cache_directory() -> Path:
    """Where hwnas keeps per-machine caches: ``$HWNAS_CACHE_DIR`` or ``~/.cache/hwnas``."""
    return Path(os.environ.get("HWNAS_CACHE_DIR") or Path.home() / ".cache" / "hwnas")


@register_backend("tensorrt")
class TensorRTBackend(Backend):
    """Builds one engine per ONNX file (fixed input shape: batch_size x input_shape) and times
    ``execute_async_v3`` on a dedicated stream between CUDA events."""

    def uses_gpu(self) -> bool:
        return True

    def available(self) -> tuple[bool, str]:
        try:
            import tensorrt  # noqa: F401
        except ImportError as error:
            return False, f"tensorrt cannot be imported: {error}"
        reason = torch_cuda_unavailable_reason()
        return (not reason), (f"the tensorrt backend needs torch with CUDA for buffers and events: {reason}"
                              if reason else "")

    def environment(self) -> dict[str, Any]:
        tensorrt = _import_tensorrt()
        return {"runtime": "tensorrt", "runtime_version": tensorrt.__version__, **gpu_environment(),
                "machine": platform.machine(), "python": platform.python_version()}

    def timing_cache_path(self) -> Path:
        return cache_directory() / "tensorrt" / f"{self.profile.name}-{self.profile.fingerprint()}.timing-cache"

    def measure(self, model: Any, input_shape: tuple[int, ...] | InputSpec,
                reference: bytes | None = None) -> Measurement:  # plain protocol: no reference
        onnx_path = Path(model)
        return self.measure_engine(self.build_engine(onnx_path, input_shape), input_shape, label=str(onnx_path))

    def build_engine(self, onnx_path: str | Path, input_shape: tuple[int, ...] | InputSpec) -> bytes:
        """The serialized engine (a TensorRT plan) of the ONNX file, built as this profile times it."""
        tensorrt = self._runtime()
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {onnx_path}")
        shape = as_input_spec(input_shape).shape
        return bytes(self._build(tensorrt, tensorrt.Logger(tensorrt.Logger.ERROR), onnx_path, shape))

    def load_engine(self, plan: bytes, label: str = "plan") -> Any:
        """A deserialized engine of `plan` (bytes of a serialized engine built on this GPU and TensorRT)."""
        tensorrt = self._runtime()
        engine = tensorrt.Runtime(tensorrt.Logger(tensorrt.Logger.ERROR)).deserialize_cuda_engine(plan)
        if engine is None:
            raise RuntimeError(f"TensorRT could not deserialize the engine of {label}")
        return engine

    def measure_engine(self, plan: bytes, input_shape: tuple[int, ...] | InputSpec, label: str = "plan") -> Measurement:
        """Time a serialized engine (e.g. an exported plan file's bytes) with the protocol."""
        import torch

        engine = self.load_engine(plan, label)
        context = engine.create_execution_context()
        device = torch.device("cuda", 0)
        buffers = self._bind_buffers(self._runtime(), torch, engine, context, device, as_input_spec(input_shape))
        stream = torch.cuda.Stream(device)

        def run_once() -> None:
            if not context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"TensorRT execute_async_v3 failed for {label}")

        measurement = run_protocol(run_once, self.profile, time_run=cuda_event_timer(torch, stream, run_once))
        del context, engine, buffers
        return measurement

    def _runtime(self) -> Any:
        """The tensorrt module, once this machine is known to run the profile."""
        tensorrt = _import_tensorrt()
        available, reason = self.available()
        if not available:
            raise ProfileError(f"profile '{self.profile.name}': backend 'tensorrt' cannot run here: {reason}")
        return tensorrt

    def _build(self, tensorrt: Any, logger: Any, onnx_path: Path, input_shape: tuple[int, ...]) -> Any:
        """The serialized engine; the timing cache is loaded before and saved after the build."""
        builder = tensorrt.Builder(logger)
        explicit_batch = getattr(tensorrt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        major = int(tensorrt.__version__.split(".")[0])
        network = builder.create_network(1 << int(explicit_batch) if major < 10 and explicit_batch is not None else 0)
        parser = tensorrt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
            raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(tensorrt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if "fp16" in self.profile.precisions:
            config.set_flag(tensorrt.BuilderFlag.FP16)
        if "int8" in self.profile.precisions:
            config.set_flag(tensorrt.BuilderFlag.INT8)  # explicit quantization: scales come from the Q/DQ nodes
        optimization_profile = builder.create_optimization_profile()
        for index in range(network.num_inputs):
            tensor = network.get_input(index)
            shape = (self.profile.batch_size, *input_shape)
            optimization_profile.set_shape(tensor.name, shape, shape, shape)
        config.add_optimization_profile(optimization_profile)
        cache_path = self.timing_cache_path()
        cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
        _write_atomically(cache_path, bytes(config.get_timing_cache().serialize()))
        return serialized

    def _bind_buffers(self, tensorrt: Any, torch: Any, engine: Any, context: Any, device: Any,
                      spec: InputSpec) -> list[Any]:
        """One device tensor per I/O tensor (inputs seeded as ``spec`` says), addresses set on the context."""
        buffers = []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            dtype = _torch_dtype(torch, tensorrt, engine.get_tensor_dtype(name))
            if engine.get_tensor_mode(name) == tensorrt.TensorIOMode.INPUT:
                context.set_input_shape(name, (self.profile.batch_size, *spec.shape))
                tensor = seeded_model_input(torch, spec, self.profile.batch_size, dtype, device)
            else:
                tensor = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device=device)
            context.set_tensor_address(name, tensor.data_ptr())
            buffers.append(tensor)
        return buffers


def _torch_dtype(torch: Any, tensorrt: Any, data_type: Any) -> Any:
    mapping = {tensorrt.float32: torch.float32, tensorrt.float16: torch.float16, tensorrt.int32: torch.int32,
               tensorrt.int8: torch.int8, tensorrt.bool: torch.bool}
    if hasattr(tensorrt, "int64"):  # token-id inputs (TensorRT 10)
        mapping[tensorrt.int64] = torch.int64
    if data_type not in mapping:
        raise ValueError(f"TensorRT I/O tensor type {data_type} is not supported by the tensorrt backend")
    return mapping[data_type]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, lambda handle: handle.write(data))


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as error:
        raise ProfileError(f"backend 'tensorrt' is not available: {error}") from None
    return tensorrt
