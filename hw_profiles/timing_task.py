"""What a timing worker receives and returns: a self-contained task, so it can cross process (or
machine) boundaries, and the result of running it."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hw_profiles.backends.base import Backend
    from hw_profiles.measurement import Measurement
    from hw_profiles.model_input import InputSpec

ONNX_FILE_NAME = "model.onnx"


@dataclass(frozen=True)
class TimingTask:
    """One model to time. ``model`` is what the backend consumes (``Backend.model_format``): the bytes
    of an ONNX file for "onnx" backends, a ``torch.nn.Module`` for "torch" backends."""

    key: str  # the caller's name for the model, e.g. a config_id; results carry it back
    model: Any
    input_shape: tuple[int, ...] | InputSpec  # one sample's shape (float32), or an InputSpec (e.g. int64 ids)
    # The interleaved protocol's reference: ONNX bytes of a network fed the same input (Backend.measure);
    # None: the fixed reference network
    reference: bytes | None = None

    def __repr__(self) -> str:  # the model bytes would flood logs and error messages
        return f"TimingTask(key={self.key!r}, input_shape={self.input_shape})"


@dataclass(frozen=True)
class TimingResult:
    """A finished task: its measurement, or the one-line error that the backend raised."""

    key: str
    measurement: Measurement | None
    error: str | None = None
    worker: int = 0  # index of the worker that ran it
    attempts: int = 1  # 1 + how many times the task was retried after its worker died or hung
    seconds: float = 0.0  # wall time the worker spent on it (session or engine build and timing)

    @property
    def ok(self) -> bool:
        return self.error is None


def run_task(backend: Backend, task: TimingTask) -> Measurement:
    """Time ``task`` on ``backend``: ONNX bytes go through a temporary file, a module is passed as is."""
    if backend.model_format == "onnx":
        if not isinstance(task.model, (bytes, bytearray)):
            raise TypeError(f"backend {backend.name!r} times ONNX files; task {task.key!r} carries "
                            f"{type(task.model).__name__}, expected the ONNX file's bytes")
        with tempfile.TemporaryDirectory(prefix="hwnas-timing-") as folder:
            path = Path(folder) / ONNX_FILE_NAME
            path.write_bytes(task.model)
            return backend.measure(path, task.input_shape, reference=task.reference)
    return backend.measure(task.model, task.input_shape, reference=task.reference)
