"""The training options of the command line (`hwnas train` and `hwnas demo`), `--device` for the verbs that
evaluate accuracy, and `hwnas train --nproc N`, which starts torchrun on this machine."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Sequence

from nas.errors import HwnasError

DEVICE_HELP = ("where training, validation, BatchNorm recalibration and accuracy evaluations run: auto (default: "
               "the first CUDA device if torch has one, else the CPU), cpu, cuda or cuda:N")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_training_arguments(parser: argparse.ArgumentParser, launcher: bool = False) -> None:
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="the global batch (default 32); with N processes each reads its shard of it")
    parser.add_argument("--learning-rate", type=float, default=1.5e-3)
    parser.add_argument("--largest-only-fraction", type=float, default=0.5,
                        help="share of the epochs that train only the largest network (default 0.5; "
                             "0 when fine-tuning with --init-from)")
    add_device_argument(parser)
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                        help="automatic mixed precision on CUDA: bf16 where the GPU supports it, else fp16 with a "
                             "gradient scaler (default on; the CPU always trains in fp32)")
    parser.add_argument("--loader-workers", type=int, default=0,
                        help="DataLoader worker processes reading the training batches (default 0)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads per process (default 0: all cores); 1 where other work shares "
                             "the cores, since threads that wait for each other on busy cores slow every step")
    if launcher:
        parser.add_argument("--nproc", type=int, default=1,
                            help="train data-parallel on N processes of this machine (starts torchrun: gloo on "
                                 "CPU, NCCL on CUDA); several machines: see docs/guide/training.md")


def training_config(args: argparse.Namespace):
    from nas.training.train import TrainingConfig

    return TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                          largest_only_fraction=args.largest_only_fraction, seed=args.seed, device=args.device,
                          amp=args.amp, loader_workers=args.loader_workers,
                          threads=args.threads)


def without_nproc(argv: Sequence[str]) -> list[str]:
    """The command line without its `--nproc N` (or `--nproc=N`)."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--nproc":
            skip = True
        elif not argument.startswith("--nproc="):
            kept.append(argument)
    return kept


def torchrun_command(argv: Sequence[str], nproc: int) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m nas -- ARGV` (the `--` keeps torchrun's own parser off
    our flags: it would read `--run` as an abbreviation of its `--run-path`)."""
    if nproc < 1:
        raise HwnasError(f"--nproc must be a positive integer, got {nproc}")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "nas", "--", *without_nproc(argv)]


def launch(argv: Sequence[str], nproc: int) -> int:
    """Run `hwnas ARGV` on `nproc` processes under torchrun; its exit code (torchrun's children print)."""
    command = torchrun_command(argv, nproc)
    environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run(command, env=environment).returncode


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def is_rank_zero() -> bool:
    """True except in the ranks other than 0 of a torchrun launch (only rank 0 prints)."""
    return os.environ.get("RANK", "0") == "0"
