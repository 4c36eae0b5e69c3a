"""`create_pool`: the worker pool for a profile, in this process for one local worker, else Ray actors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw_profiles.errors import ProfileError
from hw_profiles.in_process_pool import InProcessPool
from hw_profiles.worker_pool import WorkerPool, check_workers

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile


def create_pool(profile: HardwareProfile, workers: int = 1, ray_address: str | None = None) -> WorkerPool:
    """The in-process pool for one local worker, else a Ray pool (local instance or ``ray_address``)."""
    check_workers(workers)
    if workers == 1 and not ray_address:
        return InProcessPool(profile)
    try:
        import ray  # noqa: F401
    except ImportError as error:
        option = f"--workers {workers}" if workers > 1 else "--ray-address"
        raise ProfileError(f"{option} needs Ray: pip install 'hwnas[ray]' ({error})") from None
    from hw_profiles.ray_pool import RayPool

    return RayPool(profile, workers=workers, ray_address=ray_address)
