"""The argument parser of `hwnas`: every verb, its flags and their help (nas.cli runs them)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from nas.models.onnx_exporters import DEFAULT_OPSET, exporter_names

DESCRIPTION = "`hwnas`: the command line. Each verb works alone on a run folder; `demo` runs them all."

def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hwnas")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


class OneLineParser(argparse.ArgumentParser):
    """argparse with every usage error in one line on stderr (`hwnas train: error: ...`) and exit 2, like
    every other bad input; `--help` prints the usage as before. Subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def _add_search(parser: argparse.ArgumentParser, storage: bool = True,
                storage_default: str = "the run's study.db") -> None:
    from nas.search.samplers import describe_samplers, sampler_names

    parser.add_argument("--trials", type=int, default=100,
                        help="networks to evaluate, each one real measurement (default 100; a resumed study "
                             "counts its earlier ones)")
    parser.add_argument("--sampler", default="guided", choices=sampler_names(), help=describe_samplers())
    parser.add_argument("--latency-ms", type=float, default=None, help="hard latency budget in ms")
    parser.add_argument("--objectives", default="accuracy,latency",
                        help="accuracy,latency (default) or accuracy,latency,size: size is the deployed ONNX "
                             "file's MB (the guided sampler searches two objectives: use nsga2, tpe or random)")
    parser.add_argument("--size-mb", type=float, default=None, help="hard budget on the deployed file's size in MB")
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

    parser = OneLineParser(prog="hwnas", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"hwnas {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str, run: bool = True, seed: str | None = None) -> argparse.ArgumentParser:
        """A verb's parser; only verbs that draw random numbers (`seed` says which) take --seed."""
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        if run:
            sub.add_argument("--run", required=name != "demo", default="runs/demo", help="run folder")
        if seed:
            sub.add_argument("--seed", type=int, default=0, help=f"seed of {seed} (default 0)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        return sub

    demo = verb("demo", "train, profile, fit, search and export on the defaults (mnist5k, x86-cpu-ort)",
                seed="training, the profiled networks and the search")
    demo.add_argument("--dataset", default="mnist5k")
    demo.add_argument("--profile", default="x86-cpu-ort")
    demo.add_argument("--count", type=int, default=120, help="networks to profile for the predictor")
    add_training_arguments(demo)
    _add_search(demo, storage=False)
    train = verb("train", "train the weight-sharing supernet (resumes from the run's checkpoint)",
                 seed="the initial weights, the batches and the sampled sub-networks")
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
    profile = verb("profile", "measure sub-networks on a hardware profile (skips stored ones)",
                   seed="the networks chosen")
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
    fit = verb("fit", "fit the latency predictor on the run's measurements", seed="the held-out split")
    fit.add_argument("--model", default="gbdt")
    search = verb("search", "multi-objective search; the front is measured for real", seed="the sampler")
    _add_search(search)
    add_device_argument(search)
    for sub in (fit, search):
        sub.add_argument("--profile", default=None,
                         help="the hardware profile (name or YAML path; default: the run's). Another profile "
                              "than the run's keeps its predictor, study and front in RUN/profiles/NAME/")
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
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (18..20 with the dynamo exporter, 13..20 with torchscript; default "
                             f"{DEFAULT_OPSET})")
    export.add_argument("--exporter", default="dynamo", choices=exporter_names(),
                        help="torch's ONNX exporter: dynamo (torch.export, default) or torchscript (deprecated by "
                             "torch; a fallback for one release, with a warning)")
    export.add_argument("--profiles", default=None, metavar="A,B",
                        help="also re-time every network on these hardware profiles (names or YAML paths) where "
                             "they run here; cards and the elastic bundle keep one latency per profile")
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
    audit = verb("audit", "train K sub-networks alone and compare with their supernet accuracy (RUN/audit.json)",
                 seed="the spread networks chosen and their stand-alone trainings")
    audit.add_argument("--subnets", type=int, default=12,
                       help="networks to audit: the measured front first, then spread over the space by cost "
                            "(default 12)")
    audit.add_argument("--epochs", type=int, default=None, help="stand-alone epochs (default: the supernet's)")
    audit.add_argument("--repeats", type=int, default=1,
                       help="stand-alone trainings per network, seeded SEED, SEED+1, ...: compare with their mean "
                            "and report their spread, the noise of the truth itself (default 1; at most 10)")
    audit.add_argument("--finetune-epochs", type=int, default=0,
                       help="also fine-tune each network from its supernet weights for F epochs (default 0: no)")
    audit.add_argument("--json", action="store_true", help="print audit.json's content instead of the table")
    audit.add_argument("--threads", type=int, default=None,
                       help="torch intra-op threads of each training (0: all cores; default: as the supernet was "
                            "trained); 1 where other work shares the cores")
    audit.add_argument("--nproc", type=int, default=1,
                       help="train each network data-parallel on N processes of this machine (starts torchrun, "
                            "as `hwnas train --nproc`; rank 0 writes)")
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
    predict.add_argument("--interval", default=None, metavar="COVERAGE",
                         help="also write 'low' and 'high' (ms): an interval meant to hold the measured latency "
                              "with this probability, strictly between 0 and 1 (e.g. 0.9); split-conformal on the "
                              "predictor's cross-validated log residuals")
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
    bench_search.add_argument("--size-table", default=None, metavar="CSV",
                              help="the networks' file sizes in MB, for --objectives accuracy,latency,size or --size-mb")
    bench_search.add_argument("--size-column", default=None, metavar="COLUMN")
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
    predict = verb("predict", "run an exported model (.onnx, or a variant of an elastic bundle) on raw inputs, with the "
                              "preprocessing its file records", run=False)
    predict.add_argument("model", help="an .onnx file written by `hwnas export`, or an elastic bundle (elastic.pt)")
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="PNG/JPEG images, a folder of them, a .txt file (one sentence per line) or an .npz")
    choice = predict.add_mutually_exclusive_group()
    choice.add_argument("--variant", default=None, metavar="ID", help="bundle: the variant (its config_id)")
    choice.add_argument("--latency-ms", type=float, default=None, help="bundle: the most accurate variant this fast")
    predict.add_argument("--min-accuracy", type=float, default=None,
                         help="bundle: the fastest variant this accurate (default: the most accurate variant)")
    predict.add_argument("--profile", default=None,
                         help="bundle: the device --latency-ms is for (one of the bundle's profiles; default: the run's)")
    predict.add_argument("--out", default=None, metavar="FILE", help="write FILE.csv or FILE.json instead of printing")
    predict.add_argument("--top", type=int, default=1, metavar="K", help="the K most probable labels (default 1)")
    spaces = verb("spaces", "list the registered search spaces and their choices", run=False)
    spaces.add_argument("--profile", default="x86-cpu-ort", help="show the precisions this profile runs")
    verb("devices", "list the hardware profiles and whether they run here", run=False)
    return parser
