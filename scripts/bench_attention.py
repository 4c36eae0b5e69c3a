"""Softmax against linear attention on this CPU, and what searching the attention kind (and per-block widths)
buys at the same budget.

Latency (always): one pre-norm transformer block of the spaces (`search_spaces.transformer`, head width
16, MLP ratio 2) with softmax and with elu+1 linear attention, exported to ONNX and timed on a hardware
profile (default `x86-cpu-ort`: one pinned core, ONNX Runtime, the interleaved reference protocol, which
ranks by the ratio to a fixed reference network and so survives the machine's drift), for each token count
and width. The crossover is the first token count where the linear block is faster.

Search comparison (`--search DATASET ...`, e.g. `mnist5k rotten-tomatoes`): per data set one supernet
with `attention_choices` [softmax, linear] is trained (`--epochs`, the first `--largest-only-fraction` of them
the largest network alone, then the sandwich rule, on the first `--train-samples` training samples), at token counts above the crossover: text padded to
`--max-length` ids (256: the same sentences, every network runs and is timed on 256 tokens), images with
patches of one stem pixel (mnist5k: 14 x 14 = 196 tokens). Then four searches of
`--trials` distinct networks each run on it with measured latency (one measurement store, so a network
two searches meet is timed once; `nas.search.restricted`): softmax in every block, linear in every
block, mixed, and softmax with one MLP ratio for every block (`--comparisons` runs only the searches the
chosen comparisons need), once per `--seeds` value (the supernet is the same). Reported per seed: each
front's hypervolume against one shared reference point and its lowest latency at matched accuracies;
attention: softmax vs linear vs mixed; Mix'n'Match: per-block widths (the softmax search) vs uniform
widths, with the per-block minus uniform hypervolume paired by seed.

A comparison whose searches evaluated unequal numbers of networks is no comparison at one budget: it is
reported with `equal_budget` false, named on stderr, and the exit status is 1. The report records the
commit and the tracked files changed from it at start and end (`worktree_changes_*`): a non-empty list
means the commit does not describe the code that ran (a 2026-12-07 run reported a sampler fix's commit
while the file before the fix was in the working tree).

    .venv/bin/python scripts/bench_attention.py > benchmarks/attention/latency.json   # a few minutes
    .venv/bin/python scripts/bench_attention.py --tokens 64 256 --embed 64 --search mnist5k rotten-tomatoes \
        --epochs 2 --train-samples 3000 --trials 12 --seeds 0 1 --comparisons mix_n_match

Prints one JSON object (progress on stderr); `--out FOLDER` keeps the supernets and measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEAD_DIM, MLP_RATIO = 16, 2.0
KINDS = ("softmax", "linear")
# Each comparison: its labels in the report -> the restricted searches (nas.search.restricted) behind them.
COMPARISONS = {"attention": {"softmax": "softmax", "linear": "linear", "mixed": "mixed"},
               "mix_n_match": {"per_block_widths": "softmax", "uniform_widths": "uniform_widths"}}
# Small spaces for the search comparison, so a supernet trains in minutes on a CPU; --space-args replaces them.
# Two or three blocks, so per-block MLP ratios (Mix'n'Match) differ from one ratio for all.
SEARCH_SPACES = {
    "images": ("vit", {"depth_choices": [2, 3], "embed_dim_choices": [32, 48], "num_heads_choices": [1, 2],
                       "mlp_ratio_choices": [1.0, 2.0, 3.0], "stem_channels": 16, "patch_size": 1}),
    "tokens": ("text_encoder", {"depth_choices": [2, 3], "embed_dim_choices": [32, 48], "num_heads_choices": [1, 2],
                                "mlp_ratio_choices": [1.0, 2.0, 3.0]}),
}


def block_latencies(backend, tokens_list: list[int], embeds: list[int], folder: Path) -> list[dict]:
    import torch

    from nas.models.onnx_export import export_onnx
    from search_spaces.transformer import BlockShape, TransformerBlock, block_costs

    rows = []
    for embed in embeds:
        for tokens in tokens_list:
            row = {"embed_dim": embed, "heads": embed // HEAD_DIM, "head_dim": HEAD_DIM, "tokens": tokens}
            for kind in KINDS:
                shape = BlockShape(embed_dim=embed, num_heads=embed // HEAD_DIM, head_dim=HEAD_DIM,
                                   mlp_hidden=int(MLP_RATIO * embed), attention=kind)
                torch.manual_seed(0)
                path = export_onnx(TransformerBlock(shape).eval(), (tokens, embed),
                                   folder / f"{kind}-{embed}-{tokens}.onnx")
                measurement = backend.measure(str(path), (tokens, embed))
                row[f"{kind}_ms"] = measurement.median_ms
                row[f"{kind}_noisy"] = bool(measurement.noisy)
                row[f"{kind}_attention_macs"] = block_costs(shape, tokens)["attention_macs"]
            row["linear_speedup"] = row["softmax_ms"] / row["linear_ms"]
            rows.append(row)
            print(f"embed {embed}, {tokens} tokens: softmax {row['softmax_ms']:.3f} ms, "
                  f"linear {row['linear_ms']:.3f} ms", file=sys.stderr)
    return rows


def crossovers(rows: list[dict]) -> dict[str, int | None]:
    """Per width, the first token count from which the linear block is faster at every longer length measured."""
    found: dict[str, int | None] = {}
    for embed in sorted({row["embed_dim"] for row in rows}):
        ordered = sorted((row for row in rows if row["embed_dim"] == embed), key=lambda row: row["tokens"])
        first = None
        for row in ordered:
            if row["linear_ms"] < row["softmax_ms"]:
                first = row["tokens"] if first is None else first
            else:
                first = None
        found[str(embed)] = first
    return found


def search_comparison(dataset_name: str, profile, arguments: argparse.Namespace, folder: Path) -> dict:
    from hw_profiles import MeasurementStore
    from nas.data import load_dataset
    from nas.data.text import padded_to
    from nas.profiling.profiler import Profiler
    from nas.search.evaluators import MeasuredEvaluator
    from nas.search.restricted import attention_restrictions, compare_fronts, restricted_search, width_restrictions
    from nas.training.train import TrainingConfig, train_supernet
    from search_spaces import create_space

    dataset = load_dataset(dataset_name)
    if "vocab_size" in dataset.space_arguments():
        dataset = padded_to(dataset, arguments.max_length)
    if arguments.train_samples:
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:arguments.train_samples],
                                      y_train=dataset.y_train[:arguments.train_samples])
    data_arguments = dataset.space_arguments()
    space_name, space_arguments = SEARCH_SPACES["tokens" if "vocab_size" in data_arguments else "images"]
    space_arguments = {**space_arguments, **(arguments.space_args or {})}
    space = create_space(space_name, **data_arguments, **space_arguments, attention_choices=list(KINDS))
    run = folder / dataset_name
    run.mkdir(parents=True, exist_ok=True)
    training = TrainingConfig(epochs=arguments.epochs, threads=arguments.threads, seed=arguments.seeds[0],
                              largest_only_fraction=arguments.largest_only_fraction,
                              random_subnets=arguments.random_subnets)
    state = train_supernet(space, dataset, run / "supernet.pt", training, progress=False)
    supernet = space.build_supernet()
    supernet.load_state_dict(state["model"])
    supernet.eval()
    profiler = Profiler(space, supernet, profile, MeasurementStore(run / "measurements.db"))
    evaluator = MeasuredEvaluator(space, supernet, dataset, profiler)
    restrictions = {r.name: r for r in attention_restrictions(space) + width_restrictions(space)}
    restrictions.pop("per_block_widths")  # the softmax search: softmax fixed, widths per block
    needed = {name for comparison in arguments.comparisons for name in COMPARISONS[comparison].values()}
    by_seed = []
    for seed in arguments.seeds:
        searches = {}
        for name in (name for name in restrictions if name in needed):
            print(f"{dataset_name}: seed {seed}, search {name} ({arguments.trials} networks)", file=sys.stderr)
            searches[name] = restricted_search(space, evaluator, restrictions[name], arguments.trials, seed=seed,
                                               sampler=arguments.sampler)
        by_seed.append({"seed": seed, **{comparison: compare_fronts({label: searches[name] for label, name
                                                                     in COMPARISONS[comparison].items()})
                                         for comparison in arguments.comparisons}})
    return {"dataset": dataset_name, "space": space.name, "space_arguments": space.arguments,
            "tokens": _tokens(space),
            "training": {"epochs": arguments.epochs, "train_samples": len(dataset.y_train),
                         "largest_only_fraction": training.largest_only_fraction,
                         "random_subnets": training.random_subnets, "history": state["history"]},
            "trials": arguments.trials, "sampler": arguments.sampler, "seeds": arguments.seeds,
            "by_seed": by_seed, **({"mix_n_match_paired": _paired(by_seed)} if "mix_n_match" in arguments.comparisons
                                   else {})}


def _paired(by_seed: list[dict]) -> dict:
    """Per seed, per-block minus uniform hypervolume (each seed's own reference point), and over seeds."""
    differences = [float(row["mix_n_match"]["searches"]["per_block_widths"]["hypervolume"]
                         - row["mix_n_match"]["searches"]["uniform_widths"]["hypervolume"]) for row in by_seed]
    return {"hypervolume_difference_by_seed": differences,
            "per_block_better": sum(int(difference > 0) for difference in differences), "seeds": len(differences),
            "mean_difference": sum(differences) / len(differences)}


def _tokens(space) -> int:
    shape = space.shape(space.largest())
    return getattr(shape, "tokens", None) or shape.max_length


def worktree_changes(root: Path = ROOT) -> list[str] | None:
    """Tracked files of `root`'s git working tree that differ from its commit (`git status --porcelain`
    lines; untracked files left out), None where git cannot tell."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [line for line in status.splitlines() if line.strip()]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="x86-cpu-ort", help="hardware profile (name or YAML path)")
    parser.add_argument("--tokens", type=int, nargs="*", default=[16, 64, 256, 1024], help="token counts to time")
    parser.add_argument("--embed", type=int, nargs="*", default=[64, 128], help="block widths (multiples of 16)")
    parser.add_argument("--search", nargs="*", default=[], metavar="DATASET",
                        help="also train a supernet per data set and compare the restricted searches' fronts")
    parser.add_argument("--epochs", type=int, default=3, help="supernet training epochs per data set")
    parser.add_argument("--trials", type=int, default=12, help="distinct networks each search evaluates")
    parser.add_argument("--train-samples", type=int, default=0, help="train on the first N training samples (0: all)")
    parser.add_argument("--max-length", type=int, default=256, help="token data padded to this many ids")
    parser.add_argument("--largest-only-fraction", type=float, default=0.5,
                        help="share of the epochs that train the largest network alone (a quarter of a sandwich step)")
    parser.add_argument("--random-subnets", type=int, default=2, help="random sub-networks per sandwich step")
    parser.add_argument("--sampler", default="guided")
    parser.add_argument("--seeds", "--seed", type=int, nargs="+", default=[0],
                        help="the searches run once per seed (paired: same supernet); the first seeds training")
    parser.add_argument("--comparisons", nargs="+", choices=list(COMPARISONS), default=list(COMPARISONS),
                        help="which comparisons --search makes (only their searches run)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--space-args", type=json.loads, default=None, help="JSON: replaces the small search spaces' "
                                                                              "arguments")
    parser.add_argument("--out", type=Path, default=None, help="keep supernets and measurements here")
    args = parser.parse_args(argv)
    if any(tokens < 1 for tokens in args.tokens) or any(embed < HEAD_DIM or embed % HEAD_DIM for embed in args.embed):
        parser.error(f"--tokens must be positive and --embed multiples of {HEAD_DIM}")
    if args.epochs < 1 or args.trials < 1 or args.max_length < 1 or args.train_samples < 0:
        parser.error("--epochs, --trials and --max-length must be at least 1, --train-samples at least 0")

    from hw_profiles import create_backend, load_profile

    profile = load_profile(args.profile)
    backend = create_backend(profile)
    available, reason = backend.available()
    if not available:
        print(f"bench_attention: profile {profile.name!r} cannot run here: {reason}", file=sys.stderr)
        return 2
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["scripts/bench_attention.py", *(argv if argv is not None else sys.argv[1:])]),
              "commit": _commit(), "worktree_changes_start": worktree_changes(), "machine": {"platform": platform.platform(), "processor": platform.processor(),
                                               **backend.environment()},
              "load_average_start": os.getloadavg(), "profile": profile.name, "protocol": profile.protocol, "head_dim": HEAD_DIM, "mlp_ratio": MLP_RATIO}
    with tempfile.TemporaryDirectory(prefix="hwnas-attention-") as temporary:
        folder = args.out or Path(temporary)
        report["latency"] = block_latencies(backend, args.tokens, args.embed, Path(temporary))
        report["crossover_tokens"] = crossovers(report["latency"])
        report["search"] = [search_comparison(name, profile, args, folder) for name in args.search]
    report["load_average_end"] = os.getloadavg()
    report["worktree_changes_end"] = worktree_changes()
    print(json.dumps(report, indent=2))
    changed = sorted(set(report["worktree_changes_start"] or []) | set(report["worktree_changes_end"] or []))
    if changed:
        print(f"bench_attention: the working tree differs from commit {report['commit'][:12]} "
              f"({', '.join(changed)}): the commit does not describe the code that ran", file=sys.stderr)
    problems = invalid_comparisons(report["search"])
    for problem in problems:
        print(f"bench_attention: {problem}", file=sys.stderr)
    return 1 if problems else 0


def invalid_comparisons(search_reports: list[dict]) -> list[str]:
    """One line per comparison (data set, seed) whose searches evaluated unequal numbers of networks."""
    from nas.search.restricted import unequal_budgets

    return [f"{report['dataset']}, seed {row['seed']}, {problem}" for report in search_reports
            for row in report["by_seed"]
            for problem in unequal_budgets({name: row[name] for name in COMPARISONS if name in row})]


if __name__ == "__main__":
    sys.exit(main())
