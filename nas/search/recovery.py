"""Recovery of a shared study: trials left RUNNING by a process that died are failed and their networks
enqueued again (nas.search.driver calls `recover_interrupted` when a search starts or resumes)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Mapping

from nas.search.study_attrs import chosen_fully

UNSTAMPED_GRACE_SECONDS = 5.0  # a RUNNING trial with no process stamp after this long was orphaned while asked


def _worker() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(trial: Any, stale_after_s: float, now: float) -> bool:
    worker = trial.user_attrs.get("worker") or {}
    if worker.get("host") == socket.gethostname() and worker.get("pid") != os.getpid():
        return not _process_alive(int(worker.get("pid", -1)))
    last = trial.user_attrs.get("heartbeat") or (trial.datetime_start.timestamp() if trial.datetime_start else now)
    return now - float(last) > stale_after_s


def recover_interrupted(study: Any, space: Any, fixed: Mapping[str, Any], stale_after_s: float) -> list[int]:
    """Mark FAIL every RUNNING trial whose process is gone and enqueue its network again (unless it is
    evaluated, waiting or running elsewhere). Returns the numbers of the trials failed."""
    import optuna
    from optuna.trial import TrialState

    now = time.time()
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    unstamped = {trial.number for trial in running if "worker" not in trial.user_attrs}
    if unstamped:  # a live process stamps the trial it asked within milliseconds: give it time, then look again
        time.sleep(UNSTAMPED_GRACE_SECONDS)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed = []
    for trial in running:
        orphan = trial.number in unstamped and "worker" not in trial.user_attrs  # its process died asking
        if not (orphan or _is_stale(trial, stale_after_s, now)):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another process finished or failed it first
        failed.append(trial.number)
        if not chosen_fully(space, fixed, trial.params):  # killed while its sampler chose: nothing to redo
            continue
        config_id = space.config_id({**fixed, **trial.params})
        alive = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
        if not any(_trial_config_id(space, fixed, other) == config_id
                   for other in study.get_trials(deepcopy=False, states=alive)):
            study.enqueue_trial(dict(trial.params), user_attrs={"requeued_from": trial.number})
    return failed


def _trial_config_id(space: Any, fixed: Mapping[str, Any], trial: Any) -> str | None:
    if "config_id" in trial.user_attrs:
        return trial.user_attrs["config_id"]
    params = trial.system_attrs.get("fixed_params", trial.params)
    return space.config_id({**fixed, **params}) if chosen_fully(space, fixed, params) else None
