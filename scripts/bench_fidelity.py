"""Supernet fidelity on a demo-like run: `hwnas audit` (inherited against stand-alone test accuracy) on a
searched run, printed as one JSON object.

The run is made first if it lacks a step (train, profile, fit, search: each resumes what exists), with the
demo's settings unless told otherwise; the audit resumes too, so a killed benchmark continues.

    .venv/bin/python scripts/bench_fidelity.py --run runs/demo                      # a `make demo` run
    .venv/bin/python scripts/bench_fidelity.py --run runs/fidelity --dataset mnist5k --subnets 12
    .venv/bin/python scripts/bench_fidelity.py --run runs/fidelity-text --dataset rotten-tomatoes \
        --space text_encoder --batch-size 64                                          # the text run

The [fidelity] issue's targets: Kendall tau >= 0.7 over at least 12 networks, and the front's inherited
accuracies within 1 point of stand-alone on average. `--out FILE` also writes the JSON there.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def prepare(run_path: Path, dataset: str, profile_name: str, epochs: int, count: int, trials: int,
            device: str, threads: int, space: str = "vit", batch_size: int = 32) -> None:
    """Train, profile, fit and search the run where it lacks those steps (the demo's order)."""
    from nas import pipeline
    from nas.run_folder import RunFolder
    from nas.search.driver import SearchConfig
    from nas.training.train import TrainingConfig

    run = RunFolder(run_path)
    pipeline.train(run_path, dataset=dataset, space=space, profile_name=profile_name, progress=False,
                   training=TrainingConfig(epochs=epochs, batch_size=batch_size, device=device, threads=threads))
    if not run.predictor.exists():
        pipeline.profile(run_path, profile_name, count=count, progress=False)
        pipeline.fit(run_path, progress=False)
    if not (run.path / "front.json").exists():
        pipeline.search(run_path, replace(SearchConfig(trials=trials), resume=True), progress=False, device=device)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (other sessions share the machine), None where the OS has none."""
    import os

    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/fidelity", help="run folder (made if it lacks a step)")
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--space", default="vit", help="space of the run, when it is trained here "
                        "(text_encoder for rotten-tomatoes)")
    parser.add_argument("--batch-size", type=int, default=32, help="supernet batch size, when trained here")
    parser.add_argument("--profile", default="x86-cpu-ort")
    parser.add_argument("--epochs", type=int, default=15, help="supernet epochs, when the run is trained here")
    parser.add_argument("--count", type=int, default=120, help="networks profiled for the predictor")
    parser.add_argument("--trials", type=int, default=100, help="search trials")
    parser.add_argument("--subnets", type=int, default=12)
    parser.add_argument("--audit-epochs", type=int, default=None, help="stand-alone epochs (default: the supernet's)")
    parser.add_argument("--finetune-epochs", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="stand-alone trainings per network (seeds SEED..)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads while training the supernet and the audited networks (0: all for the "
                             "supernet; the audit then trains as the supernet was trained)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    from nas.audit import AuditConfig, audit

    started = time.perf_counter()
    load_before = load_average()
    prepare(Path(args.run), args.dataset, args.profile, args.epochs, args.count, args.trials, args.device,
            args.threads, args.space, args.batch_size)
    prepared = time.perf_counter()
    report = audit(args.run, AuditConfig(subnets=args.subnets, epochs=args.audit_epochs, seed=args.seed,
                                         repeats=args.repeats, finetune_epochs=args.finetune_epochs,
                                         device=args.device, threads=args.threads or None), progress=False)
    keys = ("config_id", "on_front", "params", "macs", "front_latency_ms", "inherited_test_accuracy",
            "standalone_test_accuracy", "standalone_test_accuracies", "standalone_sd_points", "gap_points",
            "finetuned_test_accuracy", "standalone_train_seconds")
    result = {
        "command": "python scripts/bench_fidelity.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(), "dataset": report["dataset"], "space": report["space"],
        "supernet_epochs": report["supernet_epochs"], "standalone_epochs": report["epochs"],
        "finetune_epochs": report["finetune_epochs"], "repeats": report["repeats"], "device": report["device"],
        "summary": report["summary"], "networks": [{key: row.get(key) for key in keys} for row in report["networks"]],
        "load_average": {"start": load_before, "end": load_average()},
        "seconds": {"prepare": round(prepared - started, 1), "audit": round(time.perf_counter() - prepared, 1)},
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
