"""One timing worker in the calling process: tasks are timed one after another, never alongside other
Python work of this process (the GIL would stretch the timings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from hw_profiles.backends import create_backend
from hw_profiles.errors import ProfileError
from hw_profiles.worker_pool import WorkerPool, time_task, worker_profiles

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile
    from hw_profiles.timing_task import TimingResult, TimingTask


class InProcessPool(WorkerPool):
    """Exactly one worker: the caller's own thread, pinned to the profile's cores while it times."""

    def __init__(self, profile: HardwareProfile, workers: int = 1) -> None:
        super().__init__(profile, workers)
        if workers != 1:
            raise ProfileError(
                f"the in-process pool has exactly one worker, got workers={workers}; "
                f"several workers run as Ray actors: create_pool(profile, workers={workers}) "
                f"(pip install 'hwnas[ray]')"
            )
        self.worker_profile = worker_profiles(profile, 1)[0]
        self._backend = create_backend(self.worker_profile)
        available, reason = self._backend.available()
        if not available:
            raise ProfileError(f"profile '{profile.name}' cannot be timed here: {reason}")

    def fingerprint(self) -> str:
        return self.profile.fingerprint()

    def run(self, tasks: Iterable[TimingTask]) -> Iterator[TimingResult]:
        for task in tasks:  # the next task is pulled only after this one's result was taken
            yield time_task(self._backend, task, worker=0)

    def close(self) -> None:
        pass  # nothing outlives a task: the backend opens a session per model
