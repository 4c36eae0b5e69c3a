"""NVIDIA GPU facts and timing shared by the GPU backends.

Which GPU: a process times on its first visible CUDA device (``cuda:0``). Choose the physical GPU with
``CUDA_VISIBLE_DEVICES``, as Ray does for each worker. The GPU's name and driver version come from
``nvidia-smi`` (queried for the visible device), so backends that do not load torch can report them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Any, Callable

DEVICE_INDEX = 0  # the first visible CUDA device
NVIDIA_SMI_TIMEOUT_S = 20


def visible_device_id(index: int = DEVICE_INDEX) -> str:
    """How nvidia-smi names the index-th visible GPU: the CUDA_VISIBLE_DEVICES entry, else the index."""
    visible = [entry.strip() for entry in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    return visible[index] if index < len(visible) else str(index)


@functools.lru_cache(maxsize=8)
def _query_nvidia_smi(device_id: str) -> tuple[str, str] | None:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    try:
        completed = subprocess.run(
            [executable, "--query-gpu=name,driver_version", "--format=csv,noheader", "-i", device_id],
            capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    first = completed.stdout.strip().splitlines()[:1]
    if not first or "," not in first[0]:
        return None
    name, driver = (part.strip() for part in first[0].rsplit(",", 1))
    return name, driver


def gpu_environment(index: int = DEVICE_INDEX) -> dict[str, str]:
    """``{"gpu": name, "gpu_driver": version}`` of the visible GPU, from nvidia-smi ("unknown" where it
    cannot say: a fingerprint must still be computable to report why a profile cannot run)."""
    found = _query_nvidia_smi(visible_device_id(index))
    name, driver = found if found is not None else ("unknown", "unknown")
    return {"gpu": name, "gpu_driver": driver}


def torch_cuda_unavailable_reason() -> str:
    """Why torch cannot run on a CUDA GPU here ("" when it can)."""
    try:
        import torch
    except ImportError as error:
        return f"torch cannot be imported: {error}"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (no CUDA)"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU (driver missing or no device)"
    return ""


def cuda_event_timer(torch: Any, stream: Any, run_once: Callable[[], None]) -> Callable[[], int]:
    """A protocol ``time_run``: enqueue one run on ``stream`` between two CUDA events and return the GPU
    time between them in nanoseconds (waits for the end event, so runs never overlap)."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def time_run() -> int:
        start.record(stream)
        run_once()
        end.record(stream)
        end.synchronize()
        return int(start.elapsed_time(end) * 1_000_000)

    return time_run


def seeded_input(torch: Any, shape: tuple[int, ...], dtype: Any, device: Any, seed: int = 0) -> Any:
    """A random-normal input with a fixed seed, made on the host so every device sees the same values."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(device=device, dtype=dtype)


def seeded_model_input(torch: Any, spec: Any, batch_size: int, dtype: Any, device: Any) -> Any:
    """The input of ``spec`` (an InputSpec) for a batch: in-range integer ids as given by the spec (cast to
    ``dtype`` when that is an integer type, else int64), or random-normal values of the float ``dtype``."""
    shape = (batch_size, *spec.shape)
    if spec.is_integer:
        integer = dtype if dtype is not None and not dtype.is_floating_point else torch.int64
        return torch.from_numpy(spec.sample(batch_size)).to(device=device, dtype=integer)
    return seeded_input(torch, shape, dtype, device)
