"""Facts about the machine a measurement runs on, for profile fingerprints."""

from __future__ import annotations

import functools
import platform
from pathlib import Path


def _cpuinfo_value(name: str) -> str:
    """The first non-empty value of field `name` in /proc/cpuinfo; "" where there is none (or no file)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name and value.strip():
                return value.strip()
    return ""


@functools.lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """The CPU's marketing name ('model name' in /proc/cpuinfo), else platform's best guess."""
    return _cpuinfo_value("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags the CPU reports ('flags' in /proc/cpuinfo: avx2, avx512_vnni, ...); empty
    where the OS does not say."""
    return frozenset(_cpuinfo_value("flags").split())


# Instructions that multiply int8 x int8 and add into int32 without an int16 intermediate. Without them,
# ONNX Runtime's x86 u8s8 kernel (AVX2 vpmaddubsw) adds pairs of products in saturating int16, so it is
# exact only for weights within -64..64; with them it is exact for the full int8 range.
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def has_int8_dot_product(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU (or the given flag set) has an exact int8 dot-product instruction (VNNI, AMX)."""
    return bool((cpu_flags() if flags is None else flags) & INT8_DOT_PRODUCT_FLAGS)


def host_environment() -> dict[str, str]:
    """What every backend reports about the host: CPU name, architecture, Python version."""
    return {
        "cpu": cpu_model_name(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
