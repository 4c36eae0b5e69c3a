"""The timing worker pool: workers that each time one model at a time, on cores (or a GPU) of their own.

``hw_profiles.pools.create_pool(profile, workers, ray_address)`` picks the implementation: one worker in the calling
process (:class:`~hw_profiles.in_process_pool.InProcessPool`), or Ray actors
(:class:`~hw_profiles.ray_pool.RayPool`) for several workers or a remote cluster.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import time
from typing import TYPE_CHECKING, Iterable, Iterator

from hw_profiles.affinity import affinity_supported
from hw_profiles.backends import create_backend
from hw_profiles.errors import ProfileError
from hw_profiles.timing_task import TimingResult, run_task

if TYPE_CHECKING:
    from hw_profiles.backends.base import Backend
    from hw_profiles.profile import HardwareProfile
    from hw_profiles.timing_task import TimingTask

TASKS_PER_WORKER = 2  # in flight per worker: one timing, one ready to start the moment it finishes


class WorkerPool(abc.ABC):
    """Times tasks on ``workers`` workers that share nothing (cores, GPU) with each other.

    ``run(tasks)`` pulls tasks lazily, at most ``TASKS_PER_WORKER`` in flight per worker, so the
    caller's generator (exporting the next models) overlaps with the timing.
    """

    def __init__(self, profile: HardwareProfile, workers: int = 1) -> None:
        check_workers(workers)
        self.profile = profile
        self.workers = workers

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """The profile fingerprint of the environment the workers time in (all workers agree)."""

    @abc.abstractmethod
    def run(self, tasks: Iterable[TimingTask]) -> Iterator[TimingResult]:
        """Yield one TimingResult per task as it finishes (in any order); a failed task carries its error.

        An exception raised by ``tasks`` itself propagates once the tasks already taken are yielded."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the workers; safe to call twice."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.name!r}, workers={self.workers})"


def worker_profiles(profile: HardwareProfile, workers: int) -> list[HardwareProfile]:
    """One profile per worker. CPU work: disjoint ``threads``-core slices of ``profile.cores`` (or of
    this process's allowed cores). GPU work: the profile unchanged (each worker gets a GPU instead)."""
    check_workers(workers)
    if create_backend(profile).uses_gpu():
        return [profile] * workers
    needed = workers * profile.threads
    if profile.cores is not None:
        cores = list(profile.cores)
        if len(cores) < needed:
            raise ProfileError(
                f"profile '{profile.name}': {workers} worker(s) x {profile.threads} thread(s) need {needed} cores, "
                f"but field 'cores' lists only {len(cores)}: {cores}"
            )
    elif affinity_supported():
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < needed:
            raise ProfileError(
                f"profile '{profile.name}': {workers} worker(s) x {profile.threads} thread(s) need {needed} cores, "
                f"but this process may use only {len(cores)}: {cores}"
            )
    else:  # no affinity API (macOS, Windows): nothing to pin, nothing to split
        return [profile] * workers
    threads = profile.threads
    return [dataclasses.replace(profile, cores=tuple(cores[index * threads:(index + 1) * threads]))
            for index in range(workers)]


def time_task(backend: Backend, task: TimingTask, worker: int = 0) -> TimingResult:
    """Run ``task`` on ``backend``; an exception becomes the result's one-line error instead of propagating."""
    started = time.perf_counter()
    try:
        measurement = run_task(backend, task)
    except Exception as error:  # a broken model must not stop the pool
        return TimingResult(key=task.key, measurement=None, error=one_line_error(error), worker=worker,
                            seconds=time.perf_counter() - started)
    return TimingResult(key=task.key, measurement=measurement, worker=worker, seconds=time.perf_counter() - started)


def one_line_error(error: BaseException) -> str:
    """``"<ExceptionType>: message"`` with the message's whitespace (newlines included) collapsed."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def check_workers(workers: int) -> None:
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ProfileError(f"workers must be a positive integer, got {workers!r}")
