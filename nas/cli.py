"""`hwnas`: the command line. Each verb works alone on a run folder; `demo` runs them all."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hwnas")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def _show_progress_messages() -> None:
    """Library code reports through `logging` (loggers under `nas` and `predictors`); the CLI shows progress
    on stdout and warnings on stderr, without touching the root logger."""
    progress = logging.StreamHandler(sys.stdout)
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    for name in ("nas", "predictors"):
        logger = logging.getLogger(name)
        if not any(getattr(handler, "hwnas_cli", False) for handler in logger.handlers):
            for handler in (progress, warnings):
                handler.setFormatter(logging.Formatter("%(message)s"))
                handler.hwnas_cli = True
                logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _search_config(args: argparse.Namespace):
    from nas.search.driver import SearchConfig

    return SearchConfig(trials=args.trials, sampler=args.sampler, seed=args.seed, latency_ms=args.latency_ms,
                        storage=getattr(args, "storage", None), resume=getattr(args, "resume", False),
                        focus=args.focus)


def _add_search(parser: argparse.ArgumentParser, storage: bool = True,
                storage_default: str = "the run's study.db") -> None:
    from nas.search.samplers import describe_samplers, sampler_names

    parser.add_argument("--trials", type=int, default=100,
                        help="networks to evaluate, each one real measurement (default 100; a resumed study "
                             "counts its earlier ones)")
    parser.add_argument("--sampler", default="guided", choices=sampler_names(), help=describe_samplers())
    parser.add_argument("--latency-ms", type=float, default=None, help="hard latency budget in ms")
    parser.add_argument("--no-focus", dest="focus", action="store_false",
                        help="guided only: spread the picks over the whole front. By default three picks in four "
                             "favour networks predicted above the median accuracy and below the 90th-percentile "
                             "latency (on NAS-Bench-201: higher hypervolume, lower recall of the whole front)")
    if storage:
        parser.add_argument("--storage", default=None, metavar="URL",
                            help="the study's RDB storage, e.g. postgresql://user@host/db to share one study "
                                 f"between processes or machines (default: {storage_default})")
        parser.add_argument("--resume", action="store_true",
                            help="continue (or join) a stored study; trials left running by a dead process "
                                 "are marked failed and their networks evaluated again")


def _add_predictor_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="gbdt",
                        help="gbdt (default), ridge, additive, mlp, ensemble, or auto (chosen by cross-validation "
                             "on the training rows)")
    parser.add_argument("--prior-table", default=None, metavar="CSV",
                        help="other devices' latencies of the same networks, used as features (few-shot)")
    parser.add_argument("--prior-columns", default=None, metavar="A,B,...",
                        help="the --prior-table columns to use (never the target itself)")


MOVED_DATA = "the run's .npz file or image folder at its new path, if it moved (its digest must match run.json's)"
IMAGE_SIZE = "image folders: the side images are resized and cropped to (default: their median side, at most 224)"


def build_parser() -> argparse.ArgumentParser:
    from nas.profiling.strategies import STRATEGIES
    from nas.training.options import add_device_argument, add_training_arguments

    parser = argparse.ArgumentParser(prog="hwnas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hwnas {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str, run: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        if run:
            sub.add_argument("--run", required=name != "demo", default="runs/demo", help="run folder")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        return sub

    demo = verb("demo", "train, profile, fit, search and export on the defaults (mnist5k, x86-cpu-ort)")
    demo.add_argument("--dataset", default="mnist5k")
    demo.add_argument("--profile", default="x86-cpu-ort")
    demo.add_argument("--count", type=int, default=120, help="networks to profile for the predictor")
    add_training_arguments(demo)
    _add_search(demo, storage=False)
    train = verb("train", "train the weight-sharing supernet (resumes from the run's checkpoint)")
    train.add_argument("--dataset", default="mnist5k",
                       help="mnist5k, digits, rotten-tomatoes (token ids), an .npz file or an image folder")
    train.add_argument("--space", default="vit", help="a registered space with a supernet, e.g. vit, mbv3, "
                                                      "text_encoder (see `hwnas spaces`)")
    train.add_argument("--space-args", default=None,
                       help='JSON of extra space arguments, e.g. \'{"precisions": ["fp32"]}\'')
    train.add_argument("--profile", default="x86-cpu-ort",
                       help="the target: the space offers the precisions it runs (default x86-cpu-ort: fp32, int8)")
    train.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                       help="start from this supernet's weights, e.g. fine-tune an fp32 supernet with int8 "
                            "quantization-aware training")
    add_training_arguments(train, launcher=True)
    profile = verb("profile", "measure sub-networks on a hardware profile (skips stored ones)")
    profile.add_argument("--profile", default="x86-cpu-ort", help="bundled profile name or a YAML path")
    profile.add_argument("--count", type=int, default=120, help="distinct networks to measure (default 120)")
    profile.add_argument("--strategy", default="random", choices=STRATEGIES.names(),
                         help="which networks: random (uniform) or diverse (spread over their costs); "
                              "both start from the largest and the smallest")
    profile.add_argument("--workers", type=int, default=1,
                         help="timing workers (default 1, in this process); more run as Ray actors, each on "
                              "cores of its own (CPU profiles) or a GPU of its own (GPU profiles)")
    profile.add_argument("--ray-address", default=None, metavar="ADDR",
                         help="join this Ray cluster (e.g. auto or HOST:6379) instead of starting a local one")
    profile.add_argument("--space", default=None,
                         help="the run's space; a run not trained yet is profiled on an untrained supernet of it")
    profile.add_argument("--dataset", default=None,
                         help="with --space on an untrained run: the data set that fixes the input shape "
                              "(default mnist5k)")
    profile.add_argument("--space-args", default=None, help="with --space on an untrained run: JSON space arguments")
    fit = verb("fit", "fit the latency predictor on the run's measurements")
    fit.add_argument("--model", default="gbdt")
    search = verb("search", "multi-objective search; the front is measured for real")
    _add_search(search)
    add_device_argument(search)
    export = verb("export", "export the measured front (or trials) as verified, re-timed files with model cards")
    export.add_argument("--trials", default="pareto",
                        help="'pareto' (the measured front, default) or trial numbers of the study, e.g. 3,17,42")
    export.add_argument("--format", default="onnx", dest="formats",
                        help="comma-separated: onnx (always written: the network as searched), int8 (every "
                             "layer int8), fp16, tensorrt (where TensorRT runs; skipped with the reason "
                             "otherwise), elastic (one bundle of all the networks, models/elastic.pt)")
    export.add_argument("--dynamic-batch", action=argparse.BooleanOptionalAction, default=True,
                        help="dynamic batch dimension in the ONNX files (default); --no-dynamic-batch fixes "
                             "it at the profile's batch size")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (13..20, default 17)")
    export.add_argument("--out", default=None, help="folder for the files (default: RUN/models)")
    export.add_argument("--bundle-onnx", action="store_true",
                        help="also store each network's ONNX file inside the elastic bundle")
    add_device_argument(export)
    extract = verb("extract", "write one sub-network as a standalone checkpoint (nas.load_subnet rebuilds it)")
    source = extract.add_mutually_exclusive_group(required=True)
    source.add_argument("--trial", type=int, help="a trial number of the run's study (study.db)")
    source.add_argument("--config", dest="config_file", metavar="FILE.json",
                        help="a config (JSON object), or a JSON object with a 'config' key such as a model card")
    extract.add_argument("--out", required=True, help="the checkpoint to write, e.g. subnet.pt")
    audit = verb("audit", "train K sub-networks alone and compare with their supernet accuracy (RUN/audit.json)")
    audit.add_argument("--subnets", type=int, default=12,
                       help="networks to audit: the measured front first, then spread over the space by cost "
                            "(default 12)")
    audit.add_argument("--epochs", type=int, default=None, help="stand-alone epochs (default: the supernet's)")
    audit.add_argument("--finetune-epochs", type=int, default=0,
                       help="also fine-tune each network from its supernet weights for F epochs (default 0: no)")
    audit.add_argument("--json", action="store_true", help="print audit.json's content instead of the table")
    add_device_argument(audit)
    for sub in (fit, search, export, extract, audit):
        sub.add_argument("--dataset", default=None, metavar="NEW_PATH", help=MOVED_DATA)
    for sub in (demo, train, profile):
        sub.add_argument("--image-size", type=int, default=None, help=IMAGE_SIZE)
    measurements = verb("measurements", "export the run's measurements to CSV, or merge a CSV into them")
    direction = measurements.add_mutually_exclusive_group(required=True)
    direction.add_argument("--export", metavar="CSV", help="write every measurement of the run's store to CSV")
    direction.add_argument("--import", dest="import_csv", metavar="CSV",
                           help="add the CSV's measurements (from another machine or run) to the run's store")
    # Not `verb(...)`: its --seed would be shadowed by the actions' own --seed and silently ignored.
    predictor = verbs.add_parser("predictor", help="latency predictors on published benchmark tables",
                                 description="latency predictors on published benchmark tables")
    predictor_verbs = predictor.add_subparsers(dest="predictor_verb", required=True, metavar="ACTION")
    evaluate = predictor_verbs.add_parser(
        "evaluate", help="fit on N rows of a table, report the quality on all the other rows (JSON)",
        description="fit on N rows of a table, report the quality on all the other rows (JSON)")
    evaluate.add_argument("--space", required=True, help="a space that reads table rows, e.g. nb201")
    evaluate.add_argument("--table", required=True, help="CSV with the space's config column(s) and the target")
    evaluate.add_argument("--target", required=True, help="the latency column (ms)")
    evaluate.add_argument("--train-size", type=int, required=True)
    _add_predictor_model(evaluate)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object (the default output)")
    fit = predictor_verbs.add_parser(
        "fit", help="fit a predictor on a table (all rows, or --train-size rows) and save it",
        description="fit a predictor on a table (all rows, or --train-size rows) and save it")
    fit.add_argument("--space", required=True)
    fit.add_argument("--table", required=True)
    fit.add_argument("--target", required=True)
    fit.add_argument("--train-size", type=int, default=None, help="rows to fit on (default: all)")
    _add_predictor_model(fit)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", required=True, help="the predictor file to write (.joblib)")
    predict = predictor_verbs.add_parser(
        "predict", help="predict a table's rows with a saved predictor; writes the rows plus 'predicted' (ms)",
        description="predict a table's rows with a saved predictor; writes the rows plus 'predicted' (ms)")
    predict.add_argument("predictor_file")
    predict.add_argument("--table", required=True)
    predict.add_argument("--out", required=True, help="CSV to write")
    bench = verbs.add_parser("bench", help="searches on published benchmark tables, scored against the true front",
                             description="searches on published benchmark tables, scored against the true front")
    bench_verbs = bench.add_subparsers(dest="bench_verb", required=True, metavar="ACTION")
    bench_search = bench_verbs.add_parser(
        "search", help="search a table (each trial looks a network up) and score the found front (JSON)",
        description="search a table (each trial looks a network up) and score the found front against the "
                    "table's true front (JSON)")
    bench_search.add_argument("--space", required=True, help="a space that reads table rows, e.g. nb201, ofa_mbv3")
    bench_search.add_argument("--accuracy-table", required=True, metavar="CSV")
    bench_search.add_argument("--accuracy-column", required=True, metavar="COLUMN")
    bench_search.add_argument("--latency-table", required=True, metavar="CSV")
    bench_search.add_argument("--latency-column", required=True, metavar="COLUMN")
    _add_search(bench_search, storage_default="in memory")
    bench_search.add_argument("--seed", type=int, default=0)
    bench_search.add_argument("--quiet", action="store_true", help="no progress bar")
    bench_search.add_argument("--json", action="store_true", help="print one JSON object (the default output)")
    report = verbs.add_parser("report", help="plots and a CSV of a run's search: Pareto front (measured and "
                                             "predicted-only points), hypervolume over trials, every trial",
                              description="writes RUN/report/: pareto.png, hypervolume.png, trials.csv")
    report.add_argument("run", help="run folder")
    report.add_argument("--storage", default=None, metavar="URL",
                        help="the study's storage, if not the one recorded in run.json")
    spaces = verb("spaces", "list the registered search spaces and their choices", run=False)
    spaces.add_argument("--profile", default="x86-cpu-ort", help="show the precisions this profile runs")
    verb("devices", "list the hardware profiles and whether they run here", run=False)
    return parser


def _space_arguments(text: str | None) -> dict | None:
    """--space-args: a JSON object (None when not given)."""
    from nas.errors import HwnasError

    if text is None:
        return None
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as error:
        raise HwnasError(f"--space-args is not valid JSON: {error}") from None
    if not isinstance(arguments, dict):  # `null` is not "no arguments": leave the flag out for that
        raise HwnasError(f"--space-args must be a JSON object of name: value, got {text.strip()[:80]}")
    return arguments


def _spaces(profile_name: str) -> None:
    from hw_profiles import load_profile
    from search_spaces import create_space, space_names

    from nas.profiling.profiler import precision_arguments

    profile = load_profile(profile_name)
    for name in space_names():
        space = create_space(name, **precision_arguments(profile, name))
        print(f"{name} (for profile {profile.name}): {type(space).__doc__.strip().splitlines()[0]}")
        for key, choice in space.choices.items():
            print(f"  {key:<22} {choice.describe():<20} {choice.help}")


def _devices() -> None:
    from hw_profiles import bundled_profile_names, create_backend, load_profile

    for name in bundled_profile_names():
        profile = load_profile(name)
        available, reason = create_backend(profile).available()
        print(f"{name:<24} backend={profile.backend:<12} {'available' if available else 'unavailable: ' + reason}")


def _bench_search(args: argparse.Namespace, progress: bool) -> dict:
    from search_spaces import create_space

    from nas.search.benchmark import bench_search, check_budget
    from nas.search.benchmark_tables import load_benchmark

    config = _search_config(args)
    table = load_benchmark(create_space(args.space), args.accuracy_table, args.accuracy_column,
                           args.latency_table, args.latency_column)
    check_budget(table, config.latency_ms)
    return bench_search(table, config, storage=args.storage, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    from hw_profiles import ProfileError, StoreError
    from predictors import PredictorError
    from search_spaces import ConfigError

    from nas import pipeline
    from nas.errors import HwnasError
    from nas.registry import RegistryError
    from nas.export.run import BUNDLE_NAME, describe_selection, parse_formats
    from nas.predictor_command import predictor_command
    from nas.training import options

    args = build_parser().parse_args(argv)
    progress = not getattr(args, "quiet", False)
    if progress:
        _show_progress_messages()
    try:
        if args.verb == "spaces":
            _spaces(args.profile)
        elif args.verb == "devices":
            _devices()
        elif args.verb == "demo":
            cards = pipeline.demo(args.run, dataset=args.dataset, profile_name=args.profile,
                                  training=options.training_config(args), profile_count=args.count,
                                  search_config=_search_config(args), progress=progress, image_size=args.image_size)
            print(pipeline.format_models_table(cards))
            print("\n".join(describe_selection(Path(args.run) / "models" / BUNDLE_NAME)))
            print(f"run folder: {args.run} (pareto.png, pareto.csv, trials.csv, predictor.json, models/)")
        elif args.verb == "train" and args.nproc != 1 and not options.launched_by_torchrun():
            pipeline.check_training(options.training_config(args))  # bad input: one line here, not N tracebacks
            return options.launch(sys.argv[1:] if argv is None else argv, args.nproc)
        elif args.verb == "train":
            result = pipeline.train(args.run, dataset=args.dataset, space=args.space,
                                    space_arguments=_space_arguments(args.space_args),
                                    training=options.training_config(args), progress=progress,
                                    profile_name=args.profile, init_from=args.init_from, image_size=args.image_size)
            if options.is_rank_zero():
                print(json.dumps(result))
        elif args.verb == "profile":
            measured = pipeline.profile(args.run, args.profile, count=args.count, seed=args.seed, progress=progress,
                                        strategy=args.strategy, workers=args.workers, ray_address=args.ray_address,
                                        space=args.space, dataset=args.dataset,
                                        space_arguments=_space_arguments(args.space_args), image_size=args.image_size)
            print(f"{len(measured)} networks measured or found in {args.run}/measurements.db")
        elif args.verb == "fit":
            pipeline.fit(args.run, model=args.model, seed=args.seed, progress=progress, dataset=args.dataset)
        elif args.verb == "search":
            front = pipeline.search(args.run, _search_config(args), progress=progress, dataset=args.dataset,
                                    device=args.device)
            for entry in front:
                print(f"{entry['config_id']}  val accuracy {entry['val_accuracy']:.3f}  "
                      f"measured {entry['latency_ms']:.4f} ms")
        elif args.verb == "predictor":
            print(predictor_command(args))
        elif args.verb == "bench":
            print(json.dumps(_bench_search(args, progress)))
        elif args.verb == "report":
            from nas.report.run_report import write_report

            written = write_report(args.run, storage=args.storage)
            print("\n".join(f"{name}: {path}" for name, path in written.items()))
        elif args.verb == "measurements":
            print(pipeline.measurements(args.run, export_to=args.export, import_from=args.import_csv))
        elif args.verb == "export":
            print(pipeline.format_models_table(pipeline.export(
                args.run, progress=progress, trials=args.trials, formats=args.formats, opset=args.opset,
                dynamic_batch=args.dynamic_batch, out=args.out, bundle_onnx=args.bundle_onnx, dataset=args.dataset,
                device=args.device)))
            if "elastic" in parse_formats(args.formats):
                print("\n".join(describe_selection(Path(args.out or Path(args.run) / "models") / BUNDLE_NAME)))
        elif args.verb == "audit":
            from nas.audit.audit import AuditConfig, audit, format_audit

            report = audit(args.run, AuditConfig(subnets=args.subnets, epochs=args.epochs, seed=args.seed,
                                                 finetune_epochs=args.finetune_epochs, device=args.device),
                           progress=progress, dataset=args.dataset)
            print(json.dumps(report) if args.json else format_audit(report))
        elif args.verb == "extract":
            print(json.dumps(pipeline.extract(args.run, args.out, args.trial, args.config_file, args.dataset)))
    except (HwnasError, ConfigError, ProfileError, StoreError, PredictorError, RegistryError) as error:
        print(f"hwnas: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a path the OS refuses: too long, not a folder, no permission, disk full
        print(f"hwnas: error: {str(error.filename or '')[:120]!r}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwnas: interrupted; finished steps are saved in the run folder", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
