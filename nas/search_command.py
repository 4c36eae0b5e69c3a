"""The verbs that work per hardware profile, `fit` and `search`: on the run's own profile (run.json's
`profile`) they read and write the run's top-level files, as every run did before a run held several
searches; `--profile B` keeps B's predictor, study and front under profiles/B/ (nas.run_folder.ProfileFiles),
so a run searched on two devices has two fronts and `hwnas export --profiles A,B` bundles their union.
Measurements of every profile share the run's measurements.db, whose rows are keyed by the profile's
fingerprint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import HwnasError
from nas.models.checkpoint import open_run
from nas.profiling.profiler import run_profiler
from nas.run_folder import ProfileFiles, RunFolder, write_atomically
from nas.search.driver import SearchConfig, redacted_url

LOGGER = logging.getLogger(__name__)


def profile_files(run: RunFolder, profile_name: str | None) -> tuple[ProfileFiles, str | None]:
    """(where the search on `profile_name` keeps its files, the profile to time on: None for the run's own).
    `profile_name` is a bundled name or a YAML path; an unknown one fails here in one line. A profile whose
    name is the run's own is the run's own, however it is given."""
    if profile_name is None:
        return run.profile_files(), None
    from hw_profiles import load_profile

    name = load_profile(profile_name).name
    own = run.own_profile()
    own_name = own if own == name else load_profile(own).name
    return run.profile_files(None if name == own_name else name), (None if name == own_name else profile_name)


def fit(run_path: str | Path, model: str = "gbdt", holdout: float = 0.25, seed: int = 0,
        progress: bool = True, dataset: str | None = None, profile_name: str | None = None) -> dict:
    """Fit the latency predictor on the run's measurements on `profile_name` (default: the run's profile);
    report its quality on held-out ones."""
    from predictors import save_predictor
    from predictors.held_out import fit_and_score, fit_calibrated
    from predictors.intervals import describe_interval_quality

    run = RunFolder(run_path)
    files, timed_on = profile_files(run, profile_name)
    space, supernet, _ = open_run(run, dataset, load_data=False)
    profiler = run_profiler(run, space, supernet, timed_on)
    records = profiler.records()
    if len(records) < 8:
        again = f" --profile {profile_name}" if timed_on else ""
        raise HwnasError(f"only {len(records)} measurements for profile {profiler.profile.name!r} in "
                         f"{run.measurements}; run `hwnas profile --run {run.path}{again}` first (at least 8 needed)")
    order = np.random.default_rng(seed).permutation(len(records))
    held_out = max(2, int(round(holdout * len(records))))
    test, train_part = [records[i] for i in order[:held_out]], [records[i] for i in order[held_out:]]
    configs = lambda rows: [r.config for r in rows]  # noqa: E731
    latencies = lambda rows: np.array([r.latency_ms for r in rows])  # noqa: E731
    # Intervals calibrated by CV on the training part, scored on the held-out part (the saved one: CV on all)
    _, _, quality, _ = fit_and_score(model, configs(train_part), latencies(train_part), configs(test),
                                     latencies(test), seed, space=space)
    final, calibration, _, _ = fit_calibrated(model, configs(records), latencies(records), seed, space=space)
    report = {"model": model, "n_train": len(train_part), "n_test": len(test), "held_out": quality,
              "fitted_on": len(records), "profile": profiler.profile.name, "fingerprint": profiler.fingerprint,
              "space": space.key}
    files.path.mkdir(parents=True, exist_ok=True)
    save_predictor(final, files.predictor, metadata={k: v for k, v in report.items() if k != "held_out"} |
                   {"held_out": quality, "interval": calibration and calibration.to_json()})
    write_atomically(files.predictor_report, json.dumps(report, indent=2, sort_keys=True))
    if progress:
        LOGGER.info(f"latency predictor {model!r} on {len(test)} held-out measurements: MAPE {quality['mape']:.1%}, "
                    f"within 5% {quality['within_5pct']:.1%}, within 10% {quality['within_10pct']:.1%}, "
                    f"Kendall tau {quality['kendall_tau']:.3f}, Spearman {quality['spearman']:.3f}"
                    + (f"; {describe_interval_quality(quality)}" if "interval_coverage_80" in quality else ""))
    return report


def search(run_path: str | Path, config: SearchConfig = SearchConfig(), progress: bool = True,
           dataset: str | None = None, device: str = "auto", profile_name: str | None = None) -> list[dict]:
    """Search with real measurements on `profile_name` (default: the run's profile), then time the front once
    more; returns the front (fastest first).

    Each trial evaluates one network: the supernet's validation accuracy and a real latency measurement
    (through the run's store: stored measurements are reused). The study lives in `config.storage`
    (default: the profile's study.db). Accuracies are evaluated on `device` (auto, cpu, cuda, cuda:N);
    `dataset`: the run's data set at a new path, if it moved."""
    from nas.models.device import resolve_device

    target = resolve_device(device)  # checked before the run is locked or anything is read
    files, timed_on = profile_files(RunFolder(run_path), profile_name)
    with RunFolder(run_path).lock("search", exclusive=False) as run:
        return _search(run, files, timed_on, config, progress, dataset, target)


def _search(run: RunFolder, files: ProfileFiles, timed_on: str | None, config: SearchConfig, progress: bool,
            dataset: str | None, target: Any) -> list[dict]:
    from nas.search.evaluators import MeasuredEvaluator
    from nas.search.front import confirm_front, front_of_trials, no_front_error
    from nas.report.plots import pareto_figure, save_png
    from nas.report.tables import flatten, write_csv
    from nas.search.driver import completed_trials, open_study, run_search, storage_url

    space, supernet, dataset = open_run(run, dataset)
    profiler = run_profiler(run, space, supernet, timed_on)
    if config.latency_ms is not None:  # the corners of the space first: is the budget within reach at all?
        fixed = dict(config.fixed)
        profiler.measure_all([{**anchor, **fixed} for anchor in space.anchors()], progress=progress,
                             description="measuring the smallest and largest networks")
        fastest = min(profiler.records(), key=lambda r: r.latency_ms)
        if config.latency_ms < fastest.latency_ms:
            raise HwnasError(f"latency budget {config.latency_ms} ms cannot be met: the fastest measured network "
                             f"({fastest.config_id}) takes {fastest.latency_ms:.4f} ms on {profiler.profile.name}")
    files.path.mkdir(parents=True, exist_ok=True)
    storage = storage_url(config.storage or files.study)
    study = open_study(storage, config, space,
                       prior_latencies=tuple((r.config, r.latency_ms) for r in profiler.records()))
    evaluator = MeasuredEvaluator(space, supernet, dataset, profiler, target, with_size=config.with_size)
    study = run_search(study, space, evaluator, config, progress=progress)
    trials = completed_trials(study)
    front = front_of_trials(trials, config.latency_ms, config.size_mb, config.objectives)
    if not front:
        raise no_front_error(trials, config.latency_ms, config.size_mb)
    front = confirm_front(front, profiler, progress=progress)
    write_csv(files.trials_csv, [flatten(t) for t in trials])
    write_csv(files.pareto_csv, [flatten(m) for m in front])
    write_atomically(files.front, json.dumps(front, indent=2, sort_keys=True))
    save_png(pareto_figure(trials, front, f"{space.name} on {dataset.name}, {profiler.profile.name}"), files.pareto_png)
    settings = {**asdict(config), "storage": redacted_url(storage)}
    if files.own:
        run.update_settings(search=settings)
    else:  # its own file: two searches on two profiles never rewrite one another's record
        write_atomically(files.search_settings, json.dumps({"profile": timed_on, "search": settings}, indent=2,
                                                           sort_keys=True))
    return front
