"""ONNX Runtime backend: times an ONNX file in an InferenceSession with the profile's providers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from hw_profiles.affinity import pinned_to, resolve_cores
from hw_profiles.backends.base import Backend
from hw_profiles.backends.registry import register_backend
from hw_profiles.errors import ProfileError
from hw_profiles.gpu import DEVICE_INDEX, gpu_environment
from hw_profiles.host import host_environment
from hw_profiles.model_input import InputSpec, as_input_spec
from hw_profiles.protocol import run_interleaved, run_protocol

if TYPE_CHECKING:
    from hw_profiles.measurement import Measurement

# Execution providers that run on an NVIDIA GPU; with them, input and output stay on the GPU (IOBinding).
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# ONNX Runtime's input type names and the numpy dtype we feed them.
INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}


@register_backend("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """Times a single-input ONNX model with ONNX Runtime, pinned to the profile's cores.

    With a GPU provider (CUDA or TensorRT) the input lives on ``cuda:0`` and the output is bound there
    too (IOBinding), so a timed run is the session's GPU work plus its launch cost, not host copies; the
    run returns once the GPU has finished (ONNX Runtime synchronizes the provider at the end of a run).
    """

    def __init__(self, profile: Any) -> None:
        super().__init__(profile)
        # The interleaved protocol's reference networks, by ONNX SHA-256 (None: the fixed one): (cores, one run
        # in each session), and their (baseline, probe baseline) ms on this machine
        self._references: dict[str | None, tuple] = {}
        self._baselines: dict[str | None, tuple[float, float]] = {}

    def uses_gpu(self) -> bool:
        return any(name in GPU_PROVIDERS for name in self.profile.providers)

    def available(self) -> tuple[bool, str]:
        try:
            import onnxruntime
        except ImportError as error:
            return False, f"onnxruntime cannot be imported: {error}"
        installed = onnxruntime.get_available_providers()
        missing = [name for name in self.profile.providers if name not in installed]
        if missing:
            return False, f"execution provider(s) {missing} not available; available: {installed}"
        try:
            resolve_cores(self.profile)
        except ProfileError as error:
            return False, str(error)
        return True, ""

    def environment(self) -> dict[str, Any]:
        onnxruntime = _import_onnxruntime()
        environment = {"runtime": "onnxruntime", "runtime_version": onnxruntime.__version__, **host_environment()}
        return {**environment, **gpu_environment()} if self.uses_gpu() else environment

    def measure(self, onnx_path: str | Path, input_shape: tuple[int, ...] | InputSpec,
                reference: bytes | None = None) -> Measurement:
        onnxruntime = _import_onnxruntime()
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {onnx_path}")
        self._check_providers(onnxruntime)
        cores = resolve_cores(self.profile)
        # The session is created while pinned so its intra-op threads inherit the core mask.
        interleaved = self.profile.protocol == "interleaved"
        with pinned_to(cores):
            sessions = [onnxruntime.InferenceSession(str(onnx_path), sess_options=self._session_options(onnxruntime),
                                                     providers=list(self.profile.providers))
                        for _ in range(self.profile.sessions if interleaved and not self.uses_gpu() else 1)]
            session = sessions[0]
            model_input = _only_input(session, onnx_path)
            array = self._make_input(model_input, onnx_path, input_shape)
            output_names = [output.name for output in session.get_outputs()]
            if self.uses_gpu():
                binding = session.io_binding()
                binding.bind_ortvalue_input(model_input.name,
                                            onnxruntime.OrtValue.ortvalue_from_numpy(array, "cuda", DEVICE_INDEX))
                for name in output_names:
                    binding.bind_output(name, "cuda", DEVICE_INDEX)

                def run_once() -> None:
                    session.run_with_iobinding(binding)
            else:
                feed = {model_input.name: array}

                def run_once() -> None:
                    session.run(output_names, feed)

            if interleaved:
                runs = [run_once] + [_runner(other, output_names, feed) for other in sessions[1:]]
                sha256 = hashlib.sha256(reference).hexdigest() if reference is not None else None
                references = self._reference_runners(onnxruntime, cores, reference, sha256, input_shape)
                baseline, probe_baseline = self.reference_baseline(reference, input_shape)
                return run_interleaved(runs, references, self.profile, baseline, probe_baseline)
            return run_protocol(run_once, self.profile)

    def _reference_runners(self, onnxruntime: Any, cores: tuple[int, ...], reference: bytes | None = None,
                           sha256: str | None = None,
                           input_shape: tuple[int, ...] | InputSpec | None = None) -> list[Callable[[], None]]:
        """One run of the reference network in each of the profile's `sessions` sessions, kept for the
        backend's life on the same cores as the candidates, so they stay warm between measurements. The
        reference is `reference` (ONNX bytes whose SHA-256 is `sha256`, fed a seeded `input_shape` input like
        the candidates), or the fixed network of hw_profiles.reference where that is None."""
        known = self._references.get(sha256)
        if known is None or known[0] != cores:
            from hw_profiles.reference import reference_input, reference_model_bytes

            with pinned_to(cores):
                sessions = [onnxruntime.InferenceSession(reference if reference is not None else reference_model_bytes(),
                                                         sess_options=self._session_options(onnxruntime),
                                                         providers=list(self.profile.providers))
                            for _ in range(self.profile.sessions)]
            model_input = sessions[0].get_inputs()[0]
            array = (reference_input() if reference is None
                     else self._make_input(model_input, Path(f"reference {sha256[:12]}"), input_shape))
            known = (cores, [_runner(session, None, {model_input.name: array}) for session in sessions])
            self._references[sha256] = known
        return known[1]

    def reference_baseline(self, reference: bytes | None = None,
                           input_shape: tuple[int, ...] | InputSpec | None = None) -> tuple[float, float]:
        """(baseline, probe baseline) ms of the reference network (`reference`'s ONNX bytes, fed an
        `input_shape` input; None: the fixed one) on this machine for this profile: its long-run latency
        between candidate runs and back to back, calibrated on first use (over its sessions in turn) and kept
        in the cache folder (hw_profiles.reference), one file per profile fingerprint and reference."""
        sha256 = hashlib.sha256(reference).hexdigest() if reference is not None else None
        if sha256 not in self._baselines:
            from hw_profiles.reference import STAND_IN_SEED, load_or_calibrate, reference_input, reference_model_bytes

            onnxruntime = _import_onnxruntime()
            cores = resolve_cores(self.profile)
            run_reference = self._reference_runners(onnxruntime, cores, reference, sha256, input_shape)
            with pinned_to(cores):  # the stand-in candidate that runs between the calibration's reference runs
                stand_in = onnxruntime.InferenceSession(reference_model_bytes(STAND_IN_SEED),
                                                        sess_options=self._session_options(onnxruntime),
                                                        providers=list(self.profile.providers))
                feed = {stand_in.get_inputs()[0].name: reference_input()}
                record = load_or_calibrate(self.profile.fingerprint(), run_reference,
                                           run_between=lambda: stand_in.run(None, feed), sha256=sha256)
            self._baselines[sha256] = float(record["baseline_ms"]), float(record["probe_baseline_ms"])
        return self._baselines[sha256]

    def _session_options(self, onnxruntime: Any) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.profile.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # "session.intra_op.allow_spinning" is left at its default (on). With threads=1 there are no
        # worker threads, so it changes nothing; with threads>1, spinning workers pick up the next
        # operator's work without a wake-up, which is what a default deployment sees. The workers
        # spin only on the profile's pinned cores, so they disturb no other measurement.
        return options

    def _check_providers(self, onnxruntime: Any) -> None:
        installed = onnxruntime.get_available_providers()
        for name in self.profile.providers:
            if name not in installed:
                raise ProfileError(
                    f"profile '{self.profile.name}': field 'providers' names {name!r}, which this "
                    f"onnxruntime {onnxruntime.__version__} does not have; available: {installed}"
                )

    def _make_input(self, model_input: Any, onnx_path: Path, input_shape: tuple[int, ...] | InputSpec) -> np.ndarray:
        """Seeded input of shape (batch_size, *input_shape) as the spec says (random-normal floats, or ids in
        the spec's range), checked against the model's declared shape and type."""
        spec = as_input_spec(input_shape)
        dtype = INPUT_DTYPES.get(model_input.type)
        if dtype is None:
            raise ValueError(
                f"ONNX model {onnx_path}: input {model_input.name!r} has type {model_input.type}; "
                f"supported: {sorted(INPUT_DTYPES)}"
            )
        if spec.is_integer != (np.dtype(dtype).kind in "iu"):
            raise ValueError(f"ONNX model {onnx_path}: input {model_input.name!r} has type {model_input.type}, "
                             f"but the input spec says {spec.dtype}")
        input_shape = spec.shape
        shape = (self.profile.batch_size, *(int(size) for size in input_shape))
        declared = list(model_input.shape)
        fits = len(declared) == len(shape) and all(
            not isinstance(size, int) or size in (want, -1) for size, want in zip(declared, shape)
        )
        if not fits:
            raise ValueError(
                f"ONNX model {onnx_path}: input {model_input.name!r} has shape {declared}, but batch_size "
                f"{self.profile.batch_size} and input_shape {tuple(input_shape)} give {shape}"
            )
        return spec.sample(self.profile.batch_size).astype(dtype)


def _runner(session: Any, output_names: list[str] | None, feed: dict) -> Callable[[], None]:
    """One run of `session` on `feed` (CPU inputs)."""
    def run_once() -> None:
        session.run(output_names, feed)

    return run_once


def _only_input(session: Any, onnx_path: Path) -> Any:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"ONNX model {onnx_path}: expected exactly one input, found {[i.name for i in inputs]}")
    return inputs[0]


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise ProfileError(f"backend 'onnxruntime' is not available: {error}") from None
    return onnxruntime
