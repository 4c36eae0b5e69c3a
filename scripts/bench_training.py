"""Training throughput, printed as one JSON object.

1. samples/s of one training step of the largest network alone against one sandwich step (largest +
   smallest + k random, with distillation), and the sandwich's cost against the ideal (k+2)x;
2. the same training on 1 process and on 2 (torchrun, gloo, one thread each): the throughput ratio
   (target >= 1.6x on two cores) and the final validation accuracy of both after the same samples.

    python scripts/bench_training.py                       # mnist5k, vit, 4 epochs: about 4 minutes
    python scripts/bench_training.py --dataset digits --epochs 1 --steps 20   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def step_throughput(dataset_name: str, batch_size: int, steps: int, random_subnets: int) -> dict:
    """samples/s of largest-only steps and of sandwich steps (one thread, CPU)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from nas.data import load_dataset
    from search_spaces import create_space

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset(dataset_name)
    space = create_space("vit", **data.space_arguments())
    supernet = space.build_supernet().train()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=1e-3)
    batch = torch.from_numpy(data.x_train[:batch_size])
    target = torch.from_numpy(data.y_train[:batch_size])
    rng = np.random.default_rng(0)

    def step(students: list) -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = supernet(batch, space.largest())
        F.cross_entropy(logits, target).backward()
        teacher = logits.detach().softmax(1)
        for student in students:
            F.kl_div(supernet(batch, student).log_softmax(1), teacher, reduction="batchmean").backward()
        optimizer.step()

    def rate(make_students) -> float:
        step(make_students())  # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            step(make_students())
        return steps * batch_size / (time.perf_counter() - start)

    largest = rate(lambda: [])
    sandwich = rate(lambda: [space.smallest()] + [space.sample(rng) for _ in range(random_subnets)])
    return {"largest_only_samples_per_s": round(largest, 1), "sandwich_samples_per_s": round(sandwich, 1),
            "sandwich_cost_x": round(largest / sandwich, 3), "ideal_cost_x": random_subnets + 2,
            "cost_vs_ideal": round(largest / sandwich / (random_subnets + 2), 3)}


def train_run(processes: int, dataset_name: str, epochs: int, batch_size: int, largest_only: float,
              folder: Path) -> dict:
    """`hwnas train` on `processes` processes of one thread each; wall time, samples/s, final accuracy."""
    run = folder / f"run-{processes}"
    command = [sys.executable, "-m", "nas", "train", "--run", str(run), "--dataset", dataset_name,
               "--epochs", str(epochs), "--batch-size", str(batch_size), "--device", "cpu", "--quiet",
               "--largest-only-fraction", str(largest_only)]
    if processes > 1:
        command += ["--nproc", str(processes)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(json.dumps({"error": f"{processes}-process training failed", "stderr": result.stderr[-2000:]}))
    from nas.data import load_dataset
    from nas.models.checkpoint import load_checkpoint

    samples = epochs * len(load_dataset(dataset_name).y_train)
    history = load_checkpoint(run / "supernet.pt")["history"]
    last, training_seconds = history[-1], sum(record["train_seconds"] for record in history)
    return {"processes": processes, "wall_seconds": round(seconds, 2), "training_seconds": round(training_seconds, 2),
            "samples_per_s": round(samples / training_seconds, 1),
            "samples_per_s_wall": round(samples / seconds, 1),
            "val_accuracy_largest": round(last["val_accuracy_largest"], 4),
            "val_accuracy_smallest": round(last["val_accuracy_smallest"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each training run (default 4)")
    parser.add_argument("--largest-only-fraction", type=float, default=0.5,
                        help="as hwnas train (default 0.5: sandwich steps from scratch stay near chance)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each step kind (default 30)")
    parser.add_argument("--random-subnets", type=int, default=2)
    args = parser.parse_args()
    import torch

    steps = step_throughput(args.dataset, args.batch_size, args.steps, args.random_subnets)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as folder:
        one = train_run(1, args.dataset, args.epochs, args.batch_size, args.largest_only_fraction, Path(folder))
        two = train_run(2, args.dataset, args.epochs, args.batch_size, args.largest_only_fraction, Path(folder))
    speedup = two["samples_per_s"] / one["samples_per_s"]
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), "settings": vars(args), "steps": steps,
        "data_parallel": {"one_process": one, "two_processes": two, "throughput_ratio": round(speedup, 3),
                          "target_ratio": 1.6, "meets_target": speedup >= 1.6,
                          "accuracy_difference_points": round(100 * abs(two["val_accuracy_largest"]
                                                                      - one["val_accuracy_largest"]), 2)},
        "note": "samples_per_s: the training steps alone (validation, process start and imports excluded; "
                "samples_per_s_wall includes them); timed on a shared machine",
    }, indent=2))


if __name__ == "__main__":
    main()
