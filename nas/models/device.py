"""Where torch work runs (`--device auto|cpu|cuda|cuda:N`) and in which precision (`--amp`).

`auto` is the first CUDA device when this torch has one, else the CPU. Automatic mixed precision is used
on CUDA only: bf16 where the GPU supports it, else fp16 with a gradient scaler. The CPU path stays in
fp32, so a seeded CPU run is reproducible as before.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from nas.errors import HwnasError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(spec: str = "auto") -> Any:
    """The torch.device that `spec` names; bad or unavailable devices are one HwnasError line."""
    import torch

    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise HwnasError(f"--device must be {DEVICE_CHOICES}, got {spec!r}")
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}, " + ("built without CUDA" if torch.version.cuda is None
                                                   else f"CUDA {torch.version.cuda} build, but no GPU is visible")
        raise HwnasError(f"--device {spec!r}: no CUDA device ({build}); use --device cpu or auto")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise HwnasError(f"--device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered 0..{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def amp_dtype(device: Any, enabled: bool = True) -> Any:
    """The autocast dtype on `device` (bf16 where the GPU supports it, else fp16), or None: no AMP (CPU, or off)."""
    import torch

    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: Any, dtype: Any) -> Any:
    """A context that runs the forward pass in `dtype` (nothing when dtype is None)."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def module_device(module: Any) -> Any:
    """The device of a module's first parameter (CPU for a module without parameters)."""
    import torch

    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")
