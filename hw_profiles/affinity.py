"""CPU pinning for measurements: which cores a profile gets, and a context that pins to them.

``os.sched_setaffinity(0, ...)`` applies to the calling thread; threads it starts while pinned (a
runtime's thread pool created inside the context) inherit the mask. Where the OS has no affinity API
(macOS, Windows) pinning is skipped.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator

from hw_profiles.errors import ProfileError

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile


def affinity_supported() -> bool:
    """Whether this OS lets a process choose its CPU cores."""
    return hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity")


def resolve_cores(profile: HardwareProfile) -> tuple[int, ...]:
    """The cores to pin to: the profile's ``cores``, else the first ``threads`` allowed cores.

    Returns ``()`` where pinning is unsupported. Raises ProfileError when the cores are not available
    to this process.
    """
    if not affinity_supported():
        return ()
    allowed = sorted(os.sched_getaffinity(0))
    if profile.cores is None:
        if len(allowed) < profile.threads:
            raise ProfileError(
                f"profile '{profile.name}': field 'threads' is {profile.threads} but this process may "
                f"use only {len(allowed)} core(s): {allowed}"
            )
        return tuple(allowed[: profile.threads])
    missing = sorted(set(profile.cores) - set(allowed))
    if missing:
        raise ProfileError(
            f"profile '{profile.name}': field 'cores' names core(s) {missing} that this process "
            f"may not use; allowed: {allowed}"
        )
    return profile.cores


@contextlib.contextmanager
def pinned_to(cores: tuple[int, ...]) -> Iterator[None]:
    """Pin the calling thread to ``cores`` inside the block; the previous mask is always restored.

    An empty ``cores`` (or an OS without affinity) pins nothing.
    """
    if not cores or not affinity_supported():
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)
