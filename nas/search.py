"""The search: an Optuna study (ask/tell, SQLite storage in the run folder) with two objectives,
validation accuracy inherited from the supernet (maximised, cached by config_id) and predicted
latency (minimised), and an optional hard latency budget as a constraint. A new study first evaluates
the space's anchors (its largest and smallest networks, at every precision). Re-running continues the
stored study up to the requested number of trials."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.errors import HwnasError

STUDY_NAME = "hwnas"


@dataclass(frozen=True)
class SearchConfig:
    trials: int = 200  # completed trials wanted in the study (a resumed study counts its earlier ones)
    sampler: str = "nsga2"  # see nas.samplers.SAMPLERS
    seed: int = 0
    latency_ms: float | None = None  # hard latency budget (predicted during the search, measured after)
    fixed: tuple[tuple[str, Any], ...] = ()  # (key, value) choices held fixed, e.g. (("block0.precision", "fp32"),)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise HwnasError(f"search field 'trials' must be a positive integer, got {self.trials!r}")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise HwnasError(f"search field 'latency_ms' must be a positive number, got {self.latency_ms!r}")


def _constraint(trial: Any) -> list[float]:
    return [trial.user_attrs.get("constraint", 0.0)]


def open_study(storage_path: Path, config: SearchConfig) -> Any:
    import optuna

    from nas.samplers import create_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    constraints = _constraint if config.latency_ms is not None else None
    try:
        return optuna.create_study(
            study_name=STUDY_NAME, storage=f"sqlite:///{Path(storage_path).resolve()}", load_if_exists=True,
            directions=["maximize", "minimize"], sampler=create_sampler(config.sampler, config.seed, constraints))
    except HwnasError:
        raise
    except Exception as error:  # noqa: BLE001 - SQLAlchemy / Optuna errors on a broken database
        raise HwnasError(f"study database {str(storage_path)!r} cannot be opened: "
                         f"{str(error).splitlines()[0][:200]}") from None


def run_search(space: Any, supernet: Any, dataset: Any, predictor: Any, storage_path: Path,
               config: SearchConfig, progress: bool = True) -> Any:
    """Run the study to `config.trials` completed trials and return it."""
    import optuna
    from tqdm.auto import tqdm

    from nas.evaluate import subnet_accuracy

    study = open_study(storage_path, config)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    accuracy_cache = {t.user_attrs["config_id"]: t.values[0] for t in completed if "config_id" in t.user_attrs}
    fixed = dict(config.fixed)
    unknown = [key for key in fixed if key not in space.choices]
    if unknown:
        raise HwnasError(f"fixed choice {unknown[0]!r} is not a key of space {space.name!r}; "
                         f"keys: {', '.join(space.choices)}")
    distributions = {key: value for key, value in space.distributions().items() if key not in fixed}
    if not study.trials:  # a new study starts from the corners of the space (with the fixed choices applied)
        anchors = {space.config_id({**anchor, **fixed}): space.canonical({**anchor, **fixed})
                   for anchor in space.anchors()}
        for anchor in anchors.values():
            study.enqueue_trial({key: anchor[key] for key in distributions})
    remaining = max(0, config.trials - len(completed))
    bar = tqdm(total=remaining, desc="search", disable=not progress, unit="trial")
    for _ in range(remaining):
        trial = study.ask(fixed_distributions=distributions)
        network_config = space.canonical({**fixed, **trial.params})
        config_id = space.config_id(network_config)
        if config_id not in accuracy_cache:
            accuracy_cache[config_id] = subnet_accuracy(space, supernet, network_config, dataset.x_val, dataset.y_val,
                                                        dataset.x_train)
        accuracy = accuracy_cache[config_id]
        predicted = float(predictor.predict([network_config])[0])
        trial.set_user_attr("config_id", config_id)
        trial.set_user_attr("config", json.dumps(network_config, sort_keys=True))
        trial.set_user_attr("predicted_latency_ms", predicted)
        if config.latency_ms is not None:
            trial.set_user_attr("constraint", predicted - config.latency_ms)
        study.tell(trial, [accuracy, predicted])
        bar.update(1)
        bar.set_postfix(best_accuracy=f"{max(accuracy_cache.values()):.3f}")
    bar.close()
    return study


def completed_trials(study: Any) -> list[dict]:
    """One dict per completed trial: number, config_id, config, accuracy, predicted latency."""
    import optuna

    return [{"trial": t.number, "config_id": t.user_attrs["config_id"], "config": json.loads(t.user_attrs["config"]),
             "val_accuracy": t.values[0], "predicted_latency_ms": t.user_attrs["predicted_latency_ms"]}
            for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and "config_id" in t.user_attrs]
