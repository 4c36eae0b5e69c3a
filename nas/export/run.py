"""`hwnas export` on a run folder: which networks (the measured front, or trials by number), which
formats, where the files go, and the elastic bundle of them all."""

from __future__ import annotations

import json
from pathlib import Path

from nas.data.batches import first_inputs
from nas.errors import HwnasError
from nas.export.deployment import deployment_record
from nas.export.network import check_options, export_network, load_entries
from nas.export.elastic_format import BUNDLE_NAME
from nas.export.formats import ExportOptions, requested_formats
from nas.export.profiles import latencies_on_profiles, load_profiles, parse_profiles, searched_fronts
from nas.run_folder import RunFolder, write_atomically

CALIBRATION_SAMPLES = 64  # training samples that calibrate static int8 activation scales (trt-qdq)


def parse_trials(text: str | None) -> list[int] | None:
    """None for the measured front ("pareto", the default), else the trial numbers of "N,M,..."."""
    if text is None or text.strip() == "pareto":
        return None
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HwnasError(f"--trials must be 'pareto' or trial numbers like 3,17,42, got {text!r}") from None
    if not numbers or any(number < 0 for number in numbers):
        raise HwnasError(f"--trials must be 'pareto' or non-negative trial numbers like 3,17,42, got {text!r}")
    return list(dict.fromkeys(numbers))


def parse_formats(text: str | list[str] | None) -> list[str]:
    names = text if isinstance(text, list) else [part.strip() for part in (text or "onnx").split(",") if part.strip()]
    requested_formats(names)  # an unknown name fails here, before anything is written
    return names


def export_run(run_path: str | Path, trials: str | None = None, formats: str | list[str] | None = None,
               options: ExportOptions = ExportOptions(), out: str | Path | None = None, bundle_onnx: bool = False,
               progress: bool = True, dataset: str | None = None, device: str = "cpu",
               profiles: str | list[str] | None = None) -> tuple[list[dict], Path | None]:
    """Export the run's front (or `trials`, e.g. "3,17") in `formats` (e.g. "onnx,fp16,elastic") into
    `out` (default: the run's models/); returns the model cards and the elastic bundle's path (or None).
    `dataset`: the run's data set at a new path, if it moved (see nas.data.source). BatchNorm
    recalibration runs on `device` (auto, cpu, cuda, cuda:N); the files are written on the CPU. `profiles`
    ("A,B"): also re-time every network on these hardware profiles where they run here (nas.export.profiles);
    the cards and the bundle then carry one latency per profile."""
    import copy
    from tqdm.auto import tqdm

    from nas.models.checkpoint import open_run
    from nas.profiling.profiler import run_profiler
    from nas.search.driver import trial_entries

    from nas.models.device import resolve_device

    run = RunFolder(run_path)
    check_options(options)
    target = resolve_device(device)
    file_formats, bundle_formats = requested_formats(parse_formats(formats))
    if bundle_onnx and not bundle_formats:  # refused before anything is read or written
        raise HwnasError("--bundle-onnx stores each ONNX file inside the elastic bundle: add elastic to --format "
                         "(e.g. --format onnx,elastic), or leave --bundle-onnx out")
    extra_profiles = load_profiles(parse_profiles(profiles))  # an unknown profile fails before anything is written
    numbers = parse_trials(trials)
    if numbers is None and extra_profiles:  # the union of the run's front and each listed profile's own front
        entries = searched_fronts(run, extra_profiles, load_profiles([run.own_profile()])[0].name)
    elif numbers is None:
        entries = load_entries(run.require(run.path / "front.json", "search"), "search")
    else:
        entries = trial_entries(run, numbers)
    space, supernet, dataset = open_run(run, dataset)
    unique: dict[str, dict] = {}  # two trials of one network export it once
    for entry in entries:
        unique.setdefault(space.config_id(entry["config"]), entry)
    entries = list(unique.values())
    profiler = run_profiler(run, space, supernet)
    options = ExportOptions(opset=options.opset, dynamic_batch=options.dynamic_batch, exporter=options.exporter,
                            batch_size=profiler.profile.batch_size,
                            calibration=_calibration_samples(dataset.x_train))
    skipped = {f.name: reason for f in file_formats if (reason := f.unavailable(space, profiler.profile))}
    folder = Path(out) if out is not None else run.models
    folder.mkdir(parents=True, exist_ok=True)
    networks: dict = {}  # config_id -> the evaluation network exported (reused by the bundle)
    calibrating = copy.deepcopy(supernet).to(target) if target.type != "cpu" else None
    deployment = deployment_record(dataset, profiler.profile, profiler.fingerprint, folder)
    cards = [export_network(space, supernet, dataset, entry, folder, profiler, file_formats, skipped, options, networks,
                            calibrating, deployment)
             for entry in tqdm(entries, desc="export", disable=not progress, unit="model")]
    skipped_profiles: dict[str, str] = {}
    if extra_profiles:
        latencies, skipped_profiles = latencies_on_profiles(extra_profiles, space, supernet, cards, folder,
                                                            profiler.store, networks)
        fronts = {space.config_id(entry["config"]): entry["fronts"] for entry in entries if "fronts" in entry}
        for card in cards:  # the cards say it too, so a deployment without the bundle sees every profile
            card.update(latencies=latencies[card["config_id"]], profiles_skipped=skipped_profiles)
            if card["config_id"] in fronts:  # whose searched fronts hold it: {profile: {trial, latency_ms}}
                card["fronts"] = fronts[card["config_id"]]
            write_atomically(folder / f"{card['config_id']}.json", json.dumps(card, indent=2, sort_keys=True))
    write_atomically(folder / "index.json", json.dumps(cards, indent=2, sort_keys=True))
    bundles = [f.write_bundle(folder, space, supernet, cards, networks, bundle_onnx, deployment, skipped_profiles)
               for f in bundle_formats]
    return cards, (bundles[0] if bundles else None)


def _calibration_samples(inputs) -> tuple:
    """The first CALIBRATION_SAMPLES training inputs, one sample (a batch of 1) each."""
    first = first_inputs(inputs, CALIBRATION_SAMPLES)
    return tuple(first[index:index + 1] for index in range(len(first)))


def describe_selection(bundle_path: Path) -> list[str]:
    """What `select` picks in the bundle at two latency budgets (5% above its fastest variant's latency,
    and 5% above its most accurate variant's): lines for people (the demo prints them)."""
    from nas.export.elastic import ElasticModel

    model = ElasticModel.load(bundle_path)
    fastest = min(v.latency_ms for v in model.variants)
    slowest = max(v.latency_ms for v in model.variants)
    lines = [f"elastic bundle {bundle_path} ({bundle_path.stat().st_size / 1024:.0f} KiB): "
             f"{len(model.variants)} variants, {fastest:.4f} to {slowest:.4f} ms"]
    most_accurate = max(model.variants, key=lambda v: (v.accuracy, -v.latency_ms))
    for budget in sorted({round(fastest * 1.05, 4), round(most_accurate.latency_ms * 1.05, 4)}):
        chosen = model.select(latency_ms=budget)
        lines.append(f"  select(latency_ms={budget}) -> {chosen.name}: {chosen.latency_ms:.4f} ms, "
                     f"test accuracy {chosen.accuracy:.3f}")
    if len(model.profiles) > 1:  # `--profiles`: which variant each device runs at which budget
        for profile, rows in model.dispatch_table().items():
            lines.append(f"  on {profile}: " + "; ".join(
                f"from {row['from_ms']:.4f} ms -> {row['variant']} (accuracy {row['accuracy']:.3f})" for row in rows))
    for profile, reason in model.profiles_skipped.items():
        lines.append(f"  not timed on {profile}: {reason}")
    return lines
