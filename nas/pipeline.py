"""The verbs of hwnas as Python functions (the CLI is a thin layer over these).

Each verb reads and writes named files in a run folder (see nas.run_folder), validates its input
before it writes anything, and can be re-run: training resumes from its checkpoint, profiling skips
what the store holds, the search continues its stored study.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.data.source import VOCABULARY_FILE, vocabulary_bytes
from nas.errors import HwnasError
from nas.search.front import UNSTABLE_DIFFERENCE
from nas.models.checkpoint import open_run
from nas.models.onnx_exporters import DEFAULT_OPSET
from nas.profiling.profiler import check_count, precision_arguments, run_profiler
from nas.run_folder import (DEFAULT_DATASET, DEFAULT_PROFILE, DEFAULT_SPACE, RunFolder, checked_output_file,
                            write_atomically)
from nas.search.driver import SearchConfig
from nas.search_command import fit, search  # noqa: F401  (verbs of pipeline, per profile)
from nas.training.train import TrainingConfig

LOGGER = logging.getLogger(__name__)



def build_space(space: str, dataset: Any, profile_name: str | None, space_arguments: dict | None = None) -> Any:
    """The space `space` for `dataset`'s inputs and classes, offering the precisions the profile runs
    (explicit `space_arguments` win): what `train` trains and `profile --space` profiles untrained."""
    from hw_profiles import load_profile
    from search_spaces import create_space

    if not isinstance(space_arguments or {}, dict):
        raise HwnasError(f"space arguments must be a JSON object of name: value, got {space_arguments!r}")
    defaults = precision_arguments(load_profile(profile_name), space) if profile_name else {}
    for key, value in dataset.space_arguments().items():  # the data decides its inputs and classes
        if key in (space_arguments or {}) and space_arguments[key] != value:
            raise HwnasError(f"space argument {key!r} = {space_arguments[key]!r} does not fit the data set "
                             f"{dataset.name!r}, whose {key} is {value!r}; leave it out of --space-args")
    return create_space(space, **{**dataset.space_arguments(), **defaults, **(space_arguments or {})})


def _initial_weights(path: str | Path, space: Any) -> dict:
    """The weights of the supernet checkpoint `path`, checked to fit `space` (its precisions may differ:
    quantization adds no parameters, so an fp32 supernet fine-tunes into a mixed-precision one)."""
    from nas.models.checkpoint import differing_arguments, load_checkpoint

    state = load_checkpoint(Path(path))
    ignored = ("precisions", "int8_scheme")
    theirs = {k: v for k, v in state.get("space", {}).get("arguments", {}).items() if k not in ignored}
    ours = {k: v for k, v in space.arguments.items() if k not in ignored}
    if state.get("space", {}).get("name") != space.name or theirs != ours:
        different = differing_arguments(theirs, ours)
        raise HwnasError(f"--init-from {str(path)!r}: its space {state.get('space', {}).get('name')!r} differs from "
                         f"{space.name!r} in {different or ['name']}; only precisions may differ")
    return state["model"]


def check_training(training: TrainingConfig) -> None:
    """Inputs of training that can be checked before anything starts (the device exists)."""
    from nas.models.device import resolve_device

    resolve_device(training.device)


def train(run_path: str | Path, dataset: str = DEFAULT_DATASET, space: str = DEFAULT_SPACE,
          space_arguments: dict | None = None, training: TrainingConfig = TrainingConfig(),
          progress: bool = True, profile_name: str | None = DEFAULT_PROFILE,
          init_from: str | Path | None = None, image_size: int | None = None) -> dict:
    """Train the supernet of `space` on `dataset` (a built-in name, an .npz file or an image folder, whose
    images `image_size` sets). Its precisions follow the profile's (explicit `space_arguments` win);
    `init_from` starts from another supernet's weights (e.g. fp32 -> QAT). run.json records the data.
    Under torchrun every rank calls it and trains data-parallel; rank 0 alone writes and holds the lock."""
    import contextlib

    from nas.training import distributed
    from nas.training.train import train_supernet

    if not isinstance(space_arguments or {}, dict):
        raise HwnasError(f"space arguments must be a JSON object of name: value, got {space_arguments!r}")
    data, record, recorded = _training_data(RunFolder(run_path), dataset, image_size, progress)
    search_space = build_space(space, data, profile_name, space_arguments)
    initial = _initial_weights(init_from, search_space) if init_from else None
    check_training(training)
    rank_zero = distributed.launched_world_size() == 1 or os.environ.get("RANK", "0") == "0"
    run = RunFolder(run_path)
    try:
        with run.lock("train", exclusive=True) if rank_zero else contextlib.nullcontext(run):
            if rank_zero and not recorded and not run.checkpoint.exists():  # a killed run still knows its data
                if data.vocabulary is not None:  # tokenized here: later verbs encode with the run's vocab.json
                    write_atomically(run.path / VOCABULARY_FILE, vocabulary_bytes(data.vocabulary))
                run.update_settings(data=record)
            if progress and rank_zero:
                LOGGER.info(f"training {search_space!r} on {data.summary()}")
            state = train_supernet(search_space, data, run.checkpoint, training, resume=True, progress=progress,
                                   initial_weights=initial)
    finally:
        distributed.stop()
    if not rank_zero:
        return state["history"][-1] if state.get("history") else {}
    run.update_settings(dataset=dataset, data=record, space=space,
                        **({"profile": profile_name} if profile_name else {}),
                        **({"init_from": str(init_from)} if init_from else {}))
    return state["history"][-1] if state.get("history") else {}


def _training_data(run: RunFolder, dataset: str, image_size: int | None,
                   progress: bool) -> tuple[Any, dict, bool]:
    """(data set, its run.json record, whether run.json already records it) for `train`: a run trained
    before continues on exactly its recorded data (a moved file or folder is found by its digest)."""
    from nas.data import describe_source, load_dataset, open_source

    previous = run.settings().get("data") if run.checkpoint.exists() else None
    if previous is None:
        data = load_dataset(dataset, image_size=image_size, progress=progress)
        return data, describe_source(dataset, data), False
    if image_size is not None and image_size != previous.get("image_size"):
        raise HwnasError(f"--image-size {image_size}: run {run.path} was trained at image size "
                         f"{previous.get('image_size')}; leave it out or use another run folder")
    data, record = open_source(previous, dataset, folder=run.path)
    return data, record, record == previous


def profile(run_path: str | Path, profile_name: str = DEFAULT_PROFILE, count: int = 120, seed: int = 0,
            progress: bool = True, strategy: str = "random", workers: int = 1, ray_address: str | None = None,
            space: str | None = None, dataset: str | None = None, space_arguments: dict | None = None,
            image_size: int | None = None) -> list:
    """Measure `count` distinct sub-networks (chosen by `strategy`) on the profile; stored ones are skipped.

    Timing runs on `workers` workers (Ray actors when more than one, or when `ray_address` joins a
    cluster), while this process extracts and exports the next networks. A trained run profiles its
    supernet (`space`, if given, must be the run's); a run not trained yet profiles an untrained supernet
    of `space` for `dataset`'s input shape: latency does not depend on the weights, so profiling can run
    before or beside training, and `train` with the same space and dataset reuses every measurement. On a
    trained run `dataset` is only the new path of its data set, if it moved."""
    from hw_profiles import create_pool, load_profile

    from nas.profiling.profiler import profiling_configs

    run = RunFolder(run_path)
    hardware = load_profile(profile_name)  # fail on a bad profile before opening anything
    check_count(count)
    search_space, supernet = _profiling_supernet(run, space, dataset, profile_name, space_arguments, image_size)
    check_count(count, search_space)
    configs = profiling_configs(search_space, count, seed, strategy)
    with run.lock("profile", exclusive=False), create_pool(hardware, workers=workers, ray_address=ray_address) as pool:
        profiler = run_profiler(run.create(), search_space, supernet, profile_name, pool=pool)
        own = run.settings().get("profile")  # the run's own profile stays; another is measured beside it
        if own and hardware.name != load_profile(own).name and progress:
            LOGGER.info(f"{hardware.name} is not the run's own profile ({own}): fit and search it with "
                        f"--profile {profile_name}; its files go to {run.profile_files(hardware.name).path}")
        run.update_settings(profile=own or profile_name, **({} if run.checkpoint.exists() else
                                                     {"space": search_space.name, "dataset": dataset or DEFAULT_DATASET,
                                                      "space_arguments": search_space.arguments}))
        return profiler.measure_all(configs, progress=progress)


def _profiling_supernet(run: RunFolder, space: str | None, dataset: str | None, profile_name: str,
                        space_arguments: dict | None, image_size: int | None = None) -> tuple[Any, Any]:
    """(space, supernet) to profile: the run's trained one, or an untrained one of `space` (see `profile`)."""
    if run.checkpoint.exists():
        if space_arguments or image_size is not None:
            raise HwnasError(f"--space-args and --image-size only apply to a run that is not trained yet; "
                             f"{run.path} holds a trained supernet")
        trained_space, supernet, _ = open_run(run, dataset, load_data=False)
        if space is not None and space != trained_space.name:
            raise HwnasError(f"--space {space!r}: run {run.path} holds a trained supernet of space "
                             f"{trained_space.name!r}; profile it without --space or use another run folder")
        return trained_space, supernet
    if space is None:
        raise HwnasError(f"{run.checkpoint} does not exist; run `hwnas train --run {run.path}` first, or give "
                         f"--space to profile an untrained supernet (latency does not depend on the weights)")
    import torch

    from nas.data import load_dataset

    search_space = build_space(space, load_dataset(dataset or DEFAULT_DATASET, image_size=image_size), profile_name,
                               space_arguments)
    torch.manual_seed(0)
    return search_space, search_space.build_supernet().eval()


def export(run_path: str | Path, progress: bool = True, trials: str | None = None, formats: str | None = None,
           opset: int = DEFAULT_OPSET, dynamic_batch: bool = True, out: str | Path | None = None,
           bundle_onnx: bool = False, dataset: str | None = None, device: str = "auto",
           exporter: str = "dynamo", profiles: str | None = None) -> list[dict]:
    """Export the front (or `trials`) in `formats` (default onnx); see nas.export.run. Returns the cards.
    BatchNorm recalibration runs on `device`; the files are written on the CPU."""
    from nas.export.formats import ExportOptions
    from nas.export.run import export_run

    options = ExportOptions(opset, dynamic_batch, exporter=exporter)
    return export_run(run_path, trials, formats, options, out, bundle_onnx, progress, dataset, device, profiles)[0]


def extract(run_path: str | Path, out: str | Path, trial: int | None = None,
            config_file: str | Path | None = None, dataset: str | None = None) -> dict:
    """Write the standalone checkpoint of one sub-network (a trial of the run's study, or a config file)."""
    from nas.models.evaluate import evaluation_network
    from nas.models.subnet import config_from_file, save_subnet
    from nas.search.driver import trial_entries

    run = RunFolder(run_path)
    if (trial is None) == (config_file is None):
        raise HwnasError("extract needs exactly one of --trial N and --config FILE.json")
    checked_output_file(out, "--out")
    space, supernet, dataset = open_run(run, dataset)
    if trial is not None:
        config, source = trial_entries(run, [trial])[0]["config"], {"trial": trial}
    else:
        config, source = config_from_file(space, config_file), {"config_file": str(config_file)}
    network = evaluation_network(space, supernet, config, dataset.x_train)  # BatchNorm recalibrated, if any
    path = save_subnet(out, space, config, network, {"run": str(run.path), **source})
    return {"out": str(path), "config_id": space.config_id(config), "file_bytes": path.stat().st_size,
            "parameters": int(sum(p.numel() for p in network.parameters()))}


def measurements(run_path: str | Path, export_to: str | Path | None = None,
                 import_from: str | Path | None = None) -> str:
    """Export the run's measurement store to CSV, or merge a CSV into it; returns a one-line summary."""
    from hw_profiles import MeasurementStore, export_csv, import_csv

    run = RunFolder(run_path)
    if import_from is not None:
        if not Path(import_from).is_file():
            raise HwnasError(f"measurements CSV {str(import_from)!r} not found")
        check_row = _row_check(_run_space(run))
        with MeasurementStore(run.create().measurements) as store:
            added, already = import_csv(store, import_from, check_row=check_row)
        return f"{added} measurements added to {run.measurements} ({already} were already there)"
    checked_output_file(export_to, "--export")
    with MeasurementStore(run.require(run.measurements, "profile")) as store:
        count = export_csv(store, export_to)
    return f"{count} measurements written to {export_to}"


def _run_space(run: RunFolder) -> Any:
    """The run's space: its checkpoint's, or (before training) the one `profile --space` recorded."""
    from search_spaces import create_space

    from nas.models.checkpoint import load_checkpoint

    if run.checkpoint.exists():
        recorded = load_checkpoint(run.checkpoint).get("space", {})
        name, arguments = recorded.get("name"), recorded.get("arguments")
    else:
        settings = run.settings()
        name, arguments = settings.get("space"), settings.get("space_arguments")
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise HwnasError(f"run {run.path} has no space yet, so imported measurements cannot be checked; "
                         f"run `hwnas train` or `hwnas profile --space NAME` on it first")
    return create_space(name, **arguments)


def _row_check(space: Any):
    """check_row for hw_profiles.import_csv: the row must be of `space`, its config valid there, and its
    config_id the id of that config (a forged id would pass one network's timing off as another's)."""
    def check_row(space_key: str, config_id: str, config: dict) -> tuple[str, dict]:
        if space_key != space.key:
            raise HwnasError(f"space {space_key!r} is not this run's space {space.key!r}; import only "
                             f"measurements of networks of {space!r}")
        canonical = space.canonical(space.validate(config))
        if config_id != space.config_id(canonical):
            raise HwnasError(f"config_id {config_id!r} is not the id of its config ({space.config_id(canonical)})")
        return config_id, canonical

    return check_row


def format_models_table(cards: list[dict]) -> str:
    """The exported models, one line each; a model whose re-timed latency is more than 10% away from the
    search's measurement is marked `!` and counted below the table."""
    header = f"{'model':<18}{'latency ms':>11}{'searched ms':>12}{'int8 layers':>12}{'val acc':>9}{'test acc':>9}" \
             f"{'ORT acc':>9}{'max |dlogit|':>14}{'params':>9}{'KiB':>7}  ok"
    lines = [header, "-" * len(header)]
    for card in cards:
        searched = card.get("search_latency_ms")
        mark = "!" if card.get("latency_differs_from_search") else " "
        lines.append(f"{card['config_id']:<18}{card['latency_ms']:>10.4f}{mark}"
                     f"{'-' if searched is None else f'{searched:.4f}':>12}{card.get('int8_layers', 0):>12}"
                     f"{card['val_accuracy']:>9.3f}"
                     f"{card['test_accuracy_torch']:>9.3f}{card['test_accuracy_onnxruntime']:>9.3f}"
                     f"{card['max_abs_logit_difference']:>14.2e}{card['parameters']:>9}"
                     f"{card['file_bytes'] / 1024:>7.0f}  {'yes' if card['verified'] else 'NO'}")
    differing = sum(1 for card in cards if card.get("latency_differs_from_search"))
    if differing:
        lines.append(f"! {differing} of {len(cards)} models re-timed more than {UNSTABLE_DIFFERENCE:.0%} away from the "
                     f"search's measurement: the machine's timings drifted; re-run `hwnas export` when it is quiet")
    return "\n".join(lines)


def demo(run_path: str | Path, dataset: str = DEFAULT_DATASET, profile_name: str = DEFAULT_PROFILE,
         training: TrainingConfig = TrainingConfig(), profile_count: int = 120,
         search_config: SearchConfig = SearchConfig(), progress: bool = True,
         image_size: int | None = None) -> list[dict]:
    """Every step on the defaults, into one run folder; returns the model cards (the front is also
    bundled into models/elastic.pt)."""
    from hw_profiles import load_profile

    from nas.data import load_dataset

    load_profile(profile_name)  # bad input fails here, before hours of training
    check_count(profile_count, build_space(DEFAULT_SPACE, load_dataset(dataset, image_size=image_size), profile_name))
    train(run_path, dataset=dataset, training=training, progress=progress, profile_name=profile_name,
          image_size=image_size)
    profile(run_path, profile_name, count=profile_count, seed=search_config.seed, progress=progress)
    fit(run_path, progress=progress)
    search(run_path, replace(search_config, resume=True), progress=progress,  # a re-run demo continues its study
           device=training.device)
    return export(run_path, progress=progress, formats="onnx,elastic", device=training.device)
