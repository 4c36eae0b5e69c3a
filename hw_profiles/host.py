"""Facts about the machine a measurement runs on, for profile fingerprints."""

from __future__ import annotations

import functools
import platform
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """The CPU's marketing name ('model name' in /proc/cpuinfo), else platform's best guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def host_environment() -> dict[str, str]:
    """What every backend reports about the host: CPU name, architecture, Python version."""
    return {
        "cpu": cpu_model_name(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
