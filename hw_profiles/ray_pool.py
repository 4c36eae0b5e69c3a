"""Timing workers as Ray actors: one actor per worker, each on cores (or a GPU) of its own.

A worker that dies (killed, crashed) or hangs past ``task_timeout_s`` is replaced by a fresh actor
with the same index and cores, and its tasks are retried there, up to ``max_attempts`` in all for the
task that was running. Ray is imported inside the methods; every ``ray.get``/``ray.wait`` has a timeout.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from hw_profiles.errors import ProfileError
from hw_profiles.timing_task import TimingResult
from hw_profiles.worker_pool import TASKS_PER_WORKER, WorkerPool, one_line_error, time_task, worker_profiles

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile
    from hw_profiles.timing_task import TimingTask

START_TIMEOUT_S = 120.0  # a fresh actor: a worker process, imports, the backend's availability check
FETCH_TIMEOUT_S = 60.0  # ray.get of a result that ray.wait reported ready, or of a quick actor call
POLL_INTERVAL_S = 1.0  # longest ray.wait between checks of task ages and start deadlines


class TimingWorker:
    """What runs inside one actor: the worker's backend, timing one task at a time."""

    def __init__(self, profile_fields: dict[str, Any], index: int) -> None:
        from hw_profiles.backends import create_backend
        from hw_profiles.profile import HardwareProfile

        self.index = index
        self.profile = HardwareProfile.from_dict(profile_fields)
        self.backend = create_backend(self.profile)
        available, reason = self.backend.available()
        self.unavailable_reason = "" if available else reason

    def ready(self) -> tuple[int, str]:
        """This process's pid and, when the backend cannot run here, why ("" when it can)."""
        return os.getpid(), self.unavailable_reason

    def pid(self) -> int:
        return os.getpid()

    def fingerprint(self) -> str:
        return self.profile.fingerprint()

    def measure(self, task: TimingTask) -> TimingResult:
        return time_task(self.backend, task, worker=self.index)


@dataclasses.dataclass
class _Attempt:
    """A task assigned to a worker, and how many tries it has had (this one included)."""

    task: TimingTask
    attempts: int = 1
    ref: Any = None  # the ObjectRef of its actor call once submitted


@dataclasses.dataclass
class _Worker:
    """One worker slot: its profile (cores) and its current actor, which is replaced when it dies."""

    index: int
    profile: HardwareProfile
    actor: Any = None
    pid: int | None = None
    ready_ref: Any = None  # set while the actor is starting
    start_deadline: float = 0.0
    waiting: collections.deque = dataclasses.field(default_factory=collections.deque)  # not yet submitted
    in_flight: collections.deque = dataclasses.field(default_factory=collections.deque)  # submitted, in order
    head_started: float = 0.0  # when in_flight[0] began running (an actor runs its calls one at a time)

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.in_flight)


class RayPool(WorkerPool):
    """``workers`` Ray actors, each timing one task at a time on its own cores (CPU) or GPU."""

    def __init__(self, profile: HardwareProfile, workers: int = 1, ray_address: str | None = None,
                 task_timeout_s: float = 600.0, max_attempts: int = 3) -> None:
        super().__init__(profile, workers)
        if not isinstance(task_timeout_s, (int, float)) or isinstance(task_timeout_s, bool) or task_timeout_s <= 0:
            raise ProfileError(f"task_timeout_s must be a number of seconds > 0, got {task_timeout_s!r}")
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise ProfileError(f"max_attempts must be a positive integer, got {max_attempts!r}")
        self.task_timeout_s = float(task_timeout_s)
        self.max_attempts = max_attempts
        self._workers = [_Worker(index, worker_profile)
                         for index, worker_profile in enumerate(worker_profiles(profile, workers))]
        self._uses_gpu = _uses_gpu(profile)
        self._running = False
        self._closed = False
        ray = _import_ray()
        self._started_ray = False
        if not ray.is_initialized():
            # As Ray's own tools do: an address given, or RAY_ADDRESS (set by `ray job submit`), joins that
            # cluster, and Ray refuses num_cpus when joining; only with neither is a local instance started.
            environment_address = os.environ.get("RAY_ADDRESS")
            try:
                if ray_address or environment_address:
                    ray.init(address=ray_address, log_to_driver=False, logging_level=logging.ERROR)
                else:
                    ray.init(num_cpus=_local_cpu_count(), include_dashboard=False, log_to_driver=False,
                             logging_level=logging.ERROR)
            except Exception as error:
                where = (f"join the Ray cluster at {ray_address!r}" if ray_address else
                         f"join the Ray cluster named by RAY_ADDRESS={environment_address!r}"
                         if environment_address else "start a local Ray instance")
                raise ProfileError(f"cannot {where}: {one_line_error(error)}") from None
            self._started_ray = True
        self._remote_class = ray.remote(TimingWorker)  # per pool: a class handle stays tied to its Ray session
        try:
            for worker in self._workers:
                self._start(worker)
            self._await_started()
        except BaseException:
            self.close()
            raise

    # ---- public ----

    def fingerprint(self) -> str:
        ray = _import_ray()
        self._await_started()
        refs = [worker.actor.fingerprint.remote() for worker in self._workers]
        try:
            fingerprints = ray.get(refs, timeout=FETCH_TIMEOUT_S)
        except ray.exceptions.RayError as error:
            raise ProfileError(f"profile '{self.profile.name}': a worker failed to report its fingerprint: "
                               f"{one_line_error(error)}") from None
        if len(set(fingerprints)) > 1:
            first = fingerprints[0]
            other = next(index for index, value in enumerate(fingerprints) if value != first)
            raise ProfileError(
                f"profile '{self.profile.name}': the workers time in different environments: worker 0 has "
                f"fingerprint {first}, worker {other} has {fingerprints[other]}; use one pool per kind of machine"
            )
        return fingerprints[0]

    def worker_pids(self) -> list[int]:
        """The OS process ids of the workers' current actors (starting ones are waited for)."""
        self._await_started()
        return [worker.pid for worker in self._workers]

    def run(self, tasks: Iterable[TimingTask]) -> Iterator[TimingResult]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._running:
            raise RuntimeError(f"{self!r} runs one run() at a time; finish (or close) the other one first")
        self._running = True
        try:
            yield from self._run(iter(tasks))
        finally:
            self._running = False
            self._abandon_unfinished()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ray = _import_ray()
        if ray.is_initialized():
            for worker in self._workers:
                self._kill(worker)
            if self._started_ray:
                ray.shutdown()

    # ---- scheduling ----

    def _run(self, source: Iterator[TimingTask]) -> Iterator[TimingResult]:
        ray = _import_ray()
        exhausted, source_error = False, None
        while True:
            while not exhausted:  # fill free slots, one task pulled per slot
                worker = min(self._workers, key=lambda candidate: candidate.load)
                if worker.load >= TASKS_PER_WORKER:
                    break
                try:
                    task = next(source)
                except StopIteration:
                    exhausted = True
                    break
                except Exception as error:  # the caller's generator failed: finish what runs, then re-raise
                    exhausted, source_error = True, error
                    break
                worker.waiting.append(_Attempt(task))
                self._submit(worker)
            if exhausted and all(worker.load == 0 for worker in self._workers):
                if source_error is not None:
                    raise source_error
                return
            owners = self._owners()
            ready, _ = ray.wait(list(owners), num_returns=1, timeout=self._wait_timeout())
            for ref in ready:
                worker, attempt = owners[ref]
                if attempt is None:
                    self._finish_start(worker, FETCH_TIMEOUT_S)
                    self._submit(worker)
                else:
                    yield from self._collect(worker, attempt)
            yield from self._check_deadlines()

    def _owners(self) -> dict[Any, tuple[_Worker, _Attempt | None]]:
        """Every ref worth waiting for: starting actors' ready() calls and submitted tasks."""
        owners: dict[Any, tuple[_Worker, _Attempt | None]] = {}
        for worker in self._workers:
            if worker.ready_ref is not None:
                owners[worker.ready_ref] = (worker, None)
            for attempt in worker.in_flight:
                owners[attempt.ref] = (worker, attempt)
        return owners

    def _wait_timeout(self) -> float:
        """Until the next deadline (a running task's timeout, an actor's start), at most POLL_INTERVAL_S."""
        now = time.monotonic()
        deadlines = [worker.head_started + self.task_timeout_s for worker in self._workers if worker.in_flight]
        deadlines += [worker.start_deadline for worker in self._workers if worker.ready_ref is not None]
        return max(0.01, min([POLL_INTERVAL_S, *(deadline - now for deadline in deadlines)]))

    def _submit(self, worker: _Worker) -> None:
        """Send the worker's waiting tasks to its actor, once the actor is up."""
        if worker.actor is None:
            self._start(worker)
        if worker.ready_ref is not None:
            return
        while worker.waiting:
            attempt = worker.waiting.popleft()
            attempt.ref = worker.actor.measure.remote(attempt.task)
            if not worker.in_flight:
                worker.head_started = time.monotonic()
            worker.in_flight.append(attempt)

    def _collect(self, worker: _Worker, attempt: _Attempt) -> Iterator[TimingResult]:
        ray = _import_ray()
        try:
            result = ray.get(attempt.ref, timeout=FETCH_TIMEOUT_S)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as error:
            yield from self._replace(worker, f"its process died ({type(error).__name__})")
            return
        except ray.exceptions.GetTimeoutError:
            yield from self._replace(worker, f"its result did not arrive within {FETCH_TIMEOUT_S:g} s")
            return
        except ray.exceptions.RayError as error:  # the call itself failed (e.g. the task did not unpickle)
            result = TimingResult(key=attempt.task.key, measurement=None, error=one_line_error(error))
        was_head = worker.in_flight[0] is attempt
        worker.in_flight.remove(attempt)
        if was_head:
            worker.head_started = time.monotonic()
        yield dataclasses.replace(result, worker=worker.index, attempts=attempt.attempts)

    def _check_deadlines(self) -> Iterator[TimingResult]:
        now = time.monotonic()
        for worker in self._workers:
            if worker.ready_ref is not None and now > worker.start_deadline:
                raise ProfileError(self._start_failure(worker, f"did not start within {START_TIMEOUT_S:g} s"))
            if worker.in_flight and now - worker.head_started > self.task_timeout_s:
                yield from self._replace(worker, f"it exceeded task_timeout_s={self.task_timeout_s:g}")

    def _replace(self, worker: _Worker, reason: str) -> Iterator[TimingResult]:
        """Kill the worker's actor, start a fresh one, and queue its unfinished tasks there.

        The first unfinished task was running and is charged one attempt; the ones queued behind it
        never ran and keep their count. A task out of attempts is reported as an error."""
        finished, unfinished = [], []
        for attempt in worker.in_flight:
            result = _finished_result(attempt.ref)
            if result is not None:
                finished.append(dataclasses.replace(result, worker=worker.index, attempts=attempt.attempts))
            else:
                unfinished.append(attempt)
        worker.in_flight.clear()
        self._kill(worker)
        gave_up = []
        if unfinished:
            running = unfinished[0]
            if running.attempts >= self.max_attempts:
                unfinished.pop(0)
                gave_up.append(TimingResult(
                    key=running.task.key, measurement=None, worker=worker.index, attempts=running.attempts,
                    error=f"WorkerDied: worker {worker.index} died {running.attempts} time(s) while timing "
                          f"this task; the last time {reason}",
                ))
            else:
                running.attempts += 1
        worker.waiting.extendleft(reversed(unfinished))  # before tasks not yet submitted, in their order
        self._start(worker)
        # State is consistent before yielding: the caller may stop iterating at any result.
        yield from finished
        yield from gave_up

    # ---- actors ----

    def _start(self, worker: _Worker) -> None:
        """Create the worker's actor; it is usable once its ready() call answers (see _finish_start)."""
        options: dict[str, Any] = {"max_restarts": 0, "max_task_retries": 0}
        if self._uses_gpu:
            options["num_gpus"] = 1
        else:
            options["num_cpus"] = worker.profile.threads
        worker.actor = self._remote_class.options(**options).remote(worker.profile.to_dict(), worker.index)
        worker.pid = None
        worker.ready_ref = worker.actor.ready.remote()
        worker.start_deadline = time.monotonic() + START_TIMEOUT_S

    def _await_started(self) -> None:
        for worker in self._workers:
            if worker.actor is None:
                self._start(worker)
            if worker.ready_ref is not None:
                self._finish_start(worker, max(0.0, worker.start_deadline - time.monotonic()))

    def _finish_start(self, worker: _Worker, timeout_s: float) -> None:
        ray = _import_ray()
        try:
            pid, unavailable_reason = ray.get(worker.ready_ref, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise ProfileError(self._start_failure(worker, f"did not start within {START_TIMEOUT_S:g} s")) from None
        except ray.exceptions.RayError as error:
            raise ProfileError(self._start_failure(worker, f"failed to start: {_last_line(error)}")) from None
        if unavailable_reason:
            raise ProfileError(f"profile '{self.profile.name}' cannot be timed on worker {worker.index}: "
                               f"{unavailable_reason}")
        worker.pid = pid
        worker.ready_ref = None

    def _start_failure(self, worker: _Worker, what: str) -> str:
        needs = "1 GPU" if self._uses_gpu else f"{worker.profile.threads} CPU(s)"
        return (f"profile '{self.profile.name}': Ray worker {worker.index} {what} "
                f"(it needs {needs} free in the Ray cluster)")

    def _kill(self, worker: _Worker) -> None:
        ray = _import_ray()
        if worker.actor is not None:
            try:
                ray.kill(worker.actor, no_restart=True)
            except Exception:  # already gone
                pass
        worker.actor, worker.pid, worker.ready_ref = None, None, None

    def _abandon_unfinished(self) -> None:
        """After a run stopped early: restart workers still busy with its tasks, so none lingers."""
        if self._closed:
            return
        for worker in self._workers:
            if worker.load:
                worker.waiting.clear()
                worker.in_flight.clear()
                try:
                    self._kill(worker)
                    self._start(worker)
                except Exception:  # Ray itself is gone; don't hide the error that stopped the run
                    worker.actor, worker.ready_ref = None, None


def _finished_result(ref: Any) -> TimingResult | None:
    """The result of a call that already finished successfully, else None (never waits)."""
    ray = _import_ray()
    ready, _ = ray.wait([ref], num_returns=1, timeout=0)
    if not ready:
        return None
    try:
        return ray.get(ref, timeout=FETCH_TIMEOUT_S)
    except ray.exceptions.RayError:
        return None


def _uses_gpu(profile: HardwareProfile) -> bool:
    from hw_profiles.backends import create_backend

    return create_backend(profile).uses_gpu()


def _local_cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _last_line(error: BaseException) -> str:
    """The last non-empty line of a (multi-line, traceback-carrying) Ray error: usually the cause."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ProfileError(f"the Ray worker pool needs Ray: pip install 'hwnas[ray]' ({error})") from None
    return ray
