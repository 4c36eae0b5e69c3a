"""The search driver: an Optuna study (ask/tell) whose budget counts real evaluations.

Two objectives, accuracy (maximised) and latency (minimised), or three with the deployed file's size
(`SearchConfig.objectives`, nas.search.objectives), with optional hard latency and size budgets as
constraints. Each trial's config is evaluated by an *evaluator*: in `hwnas search` the supernet's
validation accuracy and a real latency measurement (nas.search.evaluators.MeasuredEvaluator); in
`hwnas bench search` a lookup in published tables (nas.search.benchmark_tables.TableEvaluator). The budget
`trials` counts distinct networks evaluated: a sampler that proposes a network already evaluated gets
the stored values back at no cost (such a trial is marked `repeat`).

The study lives in an RDB storage (SQLite file or a URL such as postgresql://...), so a search resumes
after a crash (`resume=True`) and several processes or machines can share one study: each counts the
evaluations of all, and trials still running elsewhere count as pending. A trial left RUNNING by a
process that died (same host and its pid gone, or no heartbeat for `stale_after_s`) is marked FAIL on
resume and its network is enqueued again, so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from nas.errors import HwnasError
from nas.search.objectives import DEFAULT as DEFAULT_OBJECTIVES, DIRECTIONS, METRIC_NAMES as OBJECTIVE_METRICS
from nas.search.objectives import check_sampler, objectives_argument
from nas.search.recovery import _trial_config_id, _worker, recover_interrupted  # noqa: F401  (tests use them)
from nas.search.study_attrs import PREDICTED_ATTR, chosen_fully

STUDY_NAME = "hwnas"
HEARTBEAT_SECONDS = 10.0  # a running trial records the time this often
STALE_AFTER_SECONDS = 120.0  # a RUNNING trial of another host with no heartbeat for this long is dead
OPEN_ATTEMPTS = 3  # a server storage that fails to open is tried again (concurrent schema creation)
MAX_ASKS_PER_EVALUATION = 20  # a sampler that keeps proposing evaluated networks is stopped after this many asks

METRIC_NAMES = ("accuracy", "latency_ms")  # the default two objectives, maximised and minimised


@dataclass(frozen=True)
class SearchConfig:
    trials: int = 100  # distinct networks to evaluate (each one real measurement); a resumed study counts its own
    sampler: str = "guided"  # see nas.search.samplers.sampler_names()
    seed: int = 0
    latency_ms: float | None = None  # hard latency budget (measured latency)
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES  # or ("accuracy", "latency", "size"): nas.search.objectives
    size_mb: float | None = None  # hard budget on the deployed file's size (MB; nas.models.file_size)
    fixed: tuple[tuple[str, Any], ...] = ()  # (key, value) choices held fixed, e.g. (("block0.precision", "fp32"),)
    storage: str | None = None  # RDB URL (sqlite:///..., postgresql://...); None: the run's study.db
    resume: bool = False  # continue (or join) a stored study that already has trials
    focus: bool = True  # guided only: most picks favour the part of the front users pick from (GuidedSettings.focus_*)
    stale_after_s: float = STALE_AFTER_SECONDS

    def __post_init__(self) -> None:
        if not isinstance(self.trials, int) or self.trials < 1:
            raise HwnasError(f"search field 'trials' must be a positive integer, got {self.trials!r}")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise HwnasError(f"search field 'latency_ms' must be a positive number, got {self.latency_ms!r}")
        if self.size_mb is not None and not self.size_mb > 0:
            raise HwnasError(f"search field 'size_mb' must be a positive number, got {self.size_mb!r}")
        object.__setattr__(self, "objectives", objectives_argument(self.objectives))
        check_sampler(self.objectives, self.sampler)

    @property
    def with_size(self) -> bool:
        """Whether trials need the deployed file's size (an objective or a budget)."""
        return "size" in self.objectives or self.size_mb is not None

    def values(self, evaluation: "Evaluation") -> list[float]:
        """The study's objective values of one evaluation, in the objectives' order."""
        by_name = {"accuracy": evaluation.accuracy, "latency": evaluation.latency_ms, "size": evaluation.size_mb}
        return [float(by_name[name]) for name in self.objectives]

    def constraints(self, latency: float, size: float | None) -> list[float]:
        """<= 0 where a trial meets the budgets (latency first, then size), one value per budget set."""
        return ([latency - self.latency_ms] if self.latency_ms is not None else []) + \
            ([size - self.size_mb] if self.size_mb is not None else [])


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    latency_ms: float
    attributes: Mapping[str, Any] = field(default_factory=dict)  # stored with the trial (JSON values)
    size_mb: float | None = None  # the deployed file's size, where the search asks for it


class Evaluator(Protocol):
    """Evaluates one network for real. May also have `resolve(config) -> config`, the network that will
    actually be evaluated for a proposed one (a benchmark table's nearest network)."""

    def evaluate(self, config: Mapping[str, Any]) -> Evaluation: ...


def storage_url(storage: str | Path) -> str:
    """An RDB URL: a path becomes sqlite:///<absolute path>; postgresql:// uses the psycopg (3) driver,
    which the `postgres` extra installs (SQLAlchemy's default for that scheme is psycopg2)."""
    text = str(storage)
    if "://" not in text:
        return f"sqlite:///{Path(text).resolve()}"
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def open_study(storage: str | Path | None, config: SearchConfig, space: Any, prior_latencies: tuple = (),
               candidates: tuple = (), sensitivity: Mapping[str, Mapping[str, float]] | None = None) -> Any:
    """Create or load the study `hwnas` in `storage` (None: in memory) with the sampler of `config`.

    A study that already has trials is continued only with `config.resume`; it must be for the same
    space, latency budget and fixed choices. `prior_latencies` ((config, ms) measured outside the study)
    and `candidates` (the only networks that exist, e.g. a benchmark table's) go to model-based samplers;
    `sensitivity` (nas.models.sensitivity's per-block `increase`) to the guided sampler's accuracy surrogate.
    """
    import optuna

    from nas.search.samplers import SamplerContext, create_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    context = SamplerContext(seed=config.seed, space=space, fixed=dict(config.fixed),
                             latency_budget=config.latency_ms, prior_latencies=tuple(prior_latencies),
                             candidates=tuple(candidates), focus=config.focus, sensitivity=sensitivity)
    sampler = create_sampler(config.sampler, context)
    where = "memory" if storage is None else storage_url(storage)
    identity = {"space": space.key, "latency_ms": config.latency_ms,
                "fixed": {key: value for key, value in config.fixed},
                # only where set, so studies made before sizes existed keep their identity
                **({"objectives": list(config.objectives)} if config.objectives != DEFAULT_OBJECTIVES else {}),
                **({"size_mb": config.size_mb} if config.size_mb is not None else {})}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            study = optuna.create_study(study_name=STUDY_NAME, storage=None if storage is None else where,
                                        load_if_exists=True, sampler=sampler,
                                        directions=[DIRECTIONS[name] for name in config.objectives])
            stored = ({key: study.user_attrs.get(key) for key in {**study.user_attrs, **identity}
                       if key in identity or key in ("objectives", "size_mb")}
                      if "space" in study.user_attrs else None)
            if study.metric_names is None:  # optuna-dashboard and plots show these instead of "Objective 0/1"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names([OBJECTIVE_METRICS[name] for name in config.objectives])
            break
        except Exception as error:  # noqa: BLE001 - SQLAlchemy / driver / Optuna errors on a broken or absent database
            if attempt + 1 < OPEN_ATTEMPTS and "://" in where and not where.startswith("sqlite"):
                time.sleep(1.0 + attempt)  # processes that start together race to create the schema: retry
                continue
            raise HwnasError(f"study storage {redacted_url(where)!r} cannot be opened: "
                             f"{str(error).strip().splitlines()[0][:200]}") from None
    if study.trials and not config.resume:
        raise HwnasError(f"the study in {redacted_url(where)!r} already has {len(study.trials)} trials; pass --resume "
                         f"to continue it (or join it from another process), or use another --storage")
    if stored is not None and stored != identity:
        different = [key for key in stored if stored[key] != identity.get(key)]
        raise HwnasError(f"the study in {redacted_url(where)!r} was made with {different[0]} = {stored[different[0]]!r}, "
                         f"not {identity.get(different[0])!r}; use another --storage")
    if stored is None:
        for key, value in identity.items():
            study.set_user_attr(key, value)
    return study


def load_run_study(run: Any, storage: str | None = None) -> Any:
    """The stored study of a run folder (`storage`, else the one its last search recorded, else
    run/study.db), to read: no sampler, nothing changed."""
    import optuna

    recorded = run.settings().get("search", {}).get("storage")
    if storage is None and recorded and ":***@" in recorded:
        raise HwnasError(f"the study of {run.path} is in {recorded}; pass --storage with the password")
    url = storage_url(storage or recorded or run.require(run.study, "search"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=STUDY_NAME, storage=url)
    except Exception as error:  # noqa: BLE001 - a missing study, a broken database, an unreachable server
        raise HwnasError(f"cannot load the study of {run.path}: {str(error).strip().splitlines()[0][:200]}") from None


def redacted_url(url: str) -> str:
    """A URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}" if ":" in credentials else url


class _Heartbeat:
    """Records the time in the trial's user attrs every HEARTBEAT_SECONDS while the trial is evaluated."""

    def __init__(self, trial: Any, interval: float = HEARTBEAT_SECONDS) -> None:
        self.trial, self.interval, self.stop = trial, interval, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # noqa: BLE001 - a lost heartbeat only makes the trial look stale later
                return

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


def run_search(study: Any, space: Any, evaluator: Evaluator, config: SearchConfig, progress: bool = True) -> Any:
    """Evaluate networks until the study holds `config.trials` distinct evaluated networks (counting
    those still running in other processes); returns the study."""
    from optuna.trial import TrialState
    from tqdm.auto import tqdm

    fixed = dict(config.fixed)
    unknown = [key for key in fixed if key not in space.choices]
    if unknown:
        raise HwnasError(f"fixed choice {unknown[0]!r} is not a key of space {space.name!r}; "
                         f"keys: {', '.join(space.choices)}")
    space.canonical({**space.smallest(), **fixed})  # a fixed value that is not allowed fails here, naming it
    distributions = {key: value for key, value in space.distributions().items() if key not in fixed}
    recover_interrupted(study, space, fixed, config.stale_after_s)
    if not study.trials:  # a new study starts from the corners of the space (with the fixed choices applied)
        anchors = {space.config_id({**anchor, **fixed}): space.canonical({**anchor, **fixed})
                   for anchor in space.anchors()}
        for anchor in anchors.values():
            study.enqueue_trial({key: anchor[key] for key in distributions})
    evaluated = _evaluated(study)
    bar = tqdm(total=config.trials, initial=min(len(evaluated), config.trials), desc="search", unit="net",
               disable=not progress)
    asks = 0
    while True:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        evaluated = _evaluated(study, trials)
        running = {t.user_attrs["config_id"] for t in trials
                   if t.state == TrialState.RUNNING and "config_id" in t.user_attrs} - set(evaluated)
        if len(evaluated) + len(running) >= config.trials or asks >= MAX_ASKS_PER_EVALUATION * config.trials:
            break
        asks += 1
        trial = study.ask()  # stamped with this process before the sampler runs, so a kill while
        trial.set_user_attr("worker", _worker())  # sampling leaves a trial a resume recognises as dead
        proposed = space.canonical({**fixed, **{key: trial.suggest_categorical(key, distribution.choices)
                                                for key, distribution in distributions.items()}})
        network = evaluator.resolve(proposed) if hasattr(evaluator, "resolve") else proposed
        config_id = space.config_id(network)
        if network != proposed:  # a benchmark table without this network evaluated its nearest one
            trial.set_user_attr("projected_from", space.config_id(proposed))
        if config_id in running or config_id in _running_elsewhere(study, space, fixed, trial.number):
            # another process is evaluating it (the earlier trial keeps it): try something else
            trial.set_user_attr("duplicate_of_running", config_id)
            study.tell(trial, state=TrialState.FAIL)
            continue
        _describe(trial, network, config_id)
        if config_id in evaluated:  # proposed again: its stored values, at no cost
            values = evaluated[config_id]
            trial.set_user_attr("repeat", True)
        else:
            with _Heartbeat(trial):
                result = evaluator.evaluate(network)
            values = config.values(result)
            for key, value in result.attributes.items():
                trial.set_user_attr(key, value)
            if result.size_mb is not None:
                trial.set_user_attr("size_mb", float(result.size_mb))
            counted = _counted(study)
            if config_id in counted:  # another process finished the same network meanwhile
                values = counted[config_id]
                trial.set_user_attr("repeat", True)
            elif _evaluated_earlier_elsewhere(study, config_id, trial.number):
                # an earlier trial (another process) is evaluating the same network and counts it, whichever
                # of the two finishes first: two evaluations that finish at once never both count
                trial.set_user_attr("repeat", True)
            else:
                bar.update(1)
        if config.latency_ms is not None or config.size_mb is not None:
            size = values[2] if len(values) > 2 else _stored_size(study, config_id, trial)
            constraints = config.constraints(values[1], size)
            trial.set_user_attr("constraint", constraints[0] if len(constraints) == 1 else constraints)
            for index, value in enumerate(constraints):  # Optuna's samplers read them from the study; keys
                trial.set_constraint(str(index), value)  # "0", "1" as in studies made before this API
        study.tell(trial, list(values))
        bar.set_postfix(best_accuracy=f"{max([values[0]] + [v[0] for v in evaluated.values()]):.3f}")
    bar.close()
    return study


def _stored_size(study: Any, config_id: str, trial: Any) -> float | None:
    """The size recorded for `config_id` (this trial's, or an earlier trial's of the same network)."""
    if "size_mb" in trial.user_attrs:
        return trial.user_attrs["size_mb"]
    return next((other.user_attrs["size_mb"] for other in study.get_trials(deepcopy=False)
                 if other.user_attrs.get("config_id") == config_id and "size_mb" in other.user_attrs), None)


def _running_elsewhere(study: Any, space: Any, fixed: Mapping[str, Any], number: int) -> set[str]:
    """config_ids of the RUNNING trials numbered before `number` whose network is fully chosen."""
    from optuna.trial import TrialState

    return {_trial_config_id(space, fixed, other)
            for other in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if other.number < number and ("config_id" in other.user_attrs or chosen_fully(space, fixed, other.params))}


def _evaluated_earlier_elsewhere(study: Any, config_id: str, number: int) -> bool:
    """Whether a RUNNING trial numbered before `number` evaluates the network `config_id`."""
    from optuna.trial import TrialState

    return any(other.number < number and other.user_attrs.get("config_id") == config_id
               for other in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _counted(study: Any) -> dict[str, tuple[float, ...]]:
    """config_id -> objective values of the completed trials that count their network (not repeats)."""
    from optuna.trial import TrialState

    return {t.user_attrs["config_id"]: tuple(t.values)
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "config_id" in t.user_attrs and not t.user_attrs.get("repeat")}


def _describe(trial: Any, network: dict, config_id: str) -> None:
    """What the trial evaluates (its process is stamped as soon as it is asked)."""
    trial.set_user_attr("config_id", config_id)
    trial.set_user_attr("config", json.dumps(network, sort_keys=True))
    trial.set_user_attr("heartbeat", time.time())


def _evaluated(study: Any, trials: list | None = None) -> dict[str, tuple[float, ...]]:
    """config_id -> objective values (accuracy, latency[, size]) of every completed trial."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if trials is None else trials
    return {t.user_attrs["config_id"]: tuple(t.values) for t in trials
            if t.state == TrialState.COMPLETE and "config_id" in t.user_attrs}


def completed_trials(study: Any) -> list[dict]:
    """One dict per completed trial, in order: number, config_id, config, accuracy, latency, and the
    trial's other attributes (latency source, predictions made before it was measured, ...)."""
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "config_id" not in trial.user_attrs:
            continue
        extra = {key: value for key, value in trial.user_attrs.items()
                 if key not in ("config_id", "config", "worker", "heartbeat")}
        rows.append({"trial": trial.number, "config_id": trial.user_attrs["config_id"],
                     "config": json.loads(trial.user_attrs["config"]), "val_accuracy": trial.values[0],
                     "latency_ms": trial.values[1], **extra,
                     **({"size_mb": trial.values[2]} if len(trial.values) > 2 else {}),
                     **{f"predicted_{key}": value for key, value in trial.system_attrs.get(PREDICTED_ATTR, {}).items()}})
    return rows


def evaluations(study: Any) -> int:
    """Distinct networks evaluated in the study."""
    return len(_evaluated(study))


def trial_entries(run: Any, numbers: list[int]) -> list[dict]:
    """The completed trials `numbers` of the run's study (a RunFolder), as trial dicts (number,
    config_id, config, val_accuracy, latency_ms); an unknown or unfinished trial raises a one-line error."""
    by_number = {trial["trial"]: trial for trial in completed_trials(load_run_study(run))}
    for number in numbers:
        if number not in by_number:
            numbered = sorted(by_number)
            known = f"{numbered[0]}..{numbered[-1]} ({len(numbered)} completed)" if numbered else "none"
            raise HwnasError(f"trial {number} is not a completed trial of the study of {run.path}; "
                             f"completed trials: {known}")
    return [by_number[number] for number in numbers]
