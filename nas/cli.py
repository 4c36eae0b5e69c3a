"""`hwnas`: the command line. Each verb works alone on a run folder; `demo` runs them all."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from nas.cli_parser import OneLineParser, build_parser  # noqa: F401 - build_parser is public here too


class _CurrentStreamHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` or `sys.stderr` is when a record is emitted, not to the stream that was
    current when the handler was made: the handlers stay on the `nas` loggers for the life of the process,
    and a caller that calls `main` more than once with the streams redirected (a notebook, a test runner
    capturing output) must not get "I/O operation on closed file" from a stream it has since closed."""

    def __init__(self, stream_name: str):
        super().__init__()
        self.stream_name = stream_name

    @property
    def stream(self):
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler.__init__ assigns one; the current one is used
        pass


def _show_progress_messages() -> None:
    """Library code reports through `logging` (loggers under `nas` and `predictors`); the CLI shows progress
    on stdout and warnings on stderr, without touching the root logger."""
    progress = _CurrentStreamHandler("stdout")
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    warnings = _CurrentStreamHandler("stderr")
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
                        focus=args.focus, objectives=args.objectives, size_mb=args.size_mb)


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
                           args.latency_table, args.latency_column, args.size_table, args.size_column)
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
            pipeline.fit(args.run, model=args.model, seed=args.seed, progress=progress, dataset=args.dataset,
                         profile_name=args.profile)
        elif args.verb == "search":
            front = pipeline.search(args.run, _search_config(args), progress=progress, dataset=args.dataset,
                                    device=args.device, profile_name=args.profile)
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
                exporter=args.exporter, profiles=args.profiles, dynamic_batch=args.dynamic_batch, out=args.out, bundle_onnx=args.bundle_onnx, dataset=args.dataset,
                device=args.device)))
            if "elastic" in parse_formats(args.formats):
                print("\n".join(describe_selection(Path(args.out or Path(args.run) / "models") / BUNDLE_NAME)))
        elif args.verb == "predict":
            from nas.export.predict import predict_command

            print(predict_command(args.model, args.inputs, variant=args.variant, latency_ms=args.latency_ms,
                                  min_accuracy=args.min_accuracy, out=args.out, top=args.top, profile=args.profile))
        elif args.verb == "audit":
            from nas.audit.audit import AuditConfig, audit, check_audit, format_audit

            config = AuditConfig(subnets=args.subnets, epochs=args.epochs, seed=args.seed, repeats=args.repeats,
                                 finetune_epochs=args.finetune_epochs, device=args.device, threads=args.threads)
            if args.nproc != 1 and not options.launched_by_torchrun():  # bad input: one line here, not N
                options.torchrun_command([], args.nproc)  # refuses --nproc < 1
                check_audit(args.run, config, args.dataset)
                return options.launch(sys.argv[1:] if argv is None else argv, args.nproc)
            report = audit(args.run, config, progress=progress, dataset=args.dataset)
            if options.is_rank_zero():
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
