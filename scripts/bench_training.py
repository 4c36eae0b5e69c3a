"""Training throughput, printed as one JSON object.

1. samples/s of one training step of the largest network alone against one sandwich step (largest +
   smallest + k random, with distillation), and the sandwich's cost against the ideal (k+2)x;
2. the same training on 1 process and on 2 (torchrun, gloo, one thread each): the throughput ratio
   (target >= 1.6x on two cores) and the final validation accuracy of both after the same samples;
3. an image folder through the DataLoader, decoded lazily per item (loader workers 0 and 1), against the
   same images held in memory: the median time of a training step (batch read + sandwich step) over
   alternating turns of the three conditions (target: lazy within 10% of in memory).

    python scripts/bench_training.py                       # mnist5k, vit, 4 epochs: about 5 minutes
    python scripts/bench_training.py --dataset digits --epochs 1 --steps 20   # a quick check
    python scripts/bench_training.py --parts folder        # the image folder alone: about 2 minutes
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


def sandwich_step(space, supernet, optimizer, batch, target, students: list) -> None:
    """One training step: the largest network on the labels, each student distilled from it."""
    import torch.nn.functional as F

    optimizer.zero_grad(set_to_none=True)
    logits = supernet(batch, space.largest())
    F.cross_entropy(logits, target).backward()
    teacher = logits.detach().softmax(1)
    for student in students:
        F.kl_div(supernet(batch, student).log_softmax(1), teacher, reduction="batchmean").backward()
    optimizer.step()


def step_throughput(dataset_name: str, batch_size: int, steps: int, random_subnets: int) -> dict:
    """samples/s of largest-only steps and of sandwich steps (one thread, CPU)."""
    import numpy as np
    import torch

    from nas.data import load_dataset
    from nas.data.batches import first_inputs
    from search_spaces import create_space

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset(dataset_name)
    space = create_space("vit", **data.space_arguments())
    supernet = space.build_supernet().train()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=1e-3)
    batch = torch.from_numpy(first_inputs(data.x_train, batch_size))
    target = torch.from_numpy(data.y_train[:batch_size])
    rng = np.random.default_rng(0)

    def step(students: list) -> None:
        sandwich_step(space, supernet, optimizer, batch, target, students)

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


def write_folder(dataset_name: str, count: int, root: Path) -> Path:
    """The first `count` images of a built-in image data set as 8-bit grayscale PNGs, root/<label>/<n>.png."""
    import numpy as np
    from PIL import Image

    from nas.data import load_dataset

    data = load_dataset(dataset_name)
    images = np.concatenate([data.x_train, data.x_val, data.x_test])[:count, 0]
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])[:count]
    pixels = ((images - images.min()) / (images.max() - images.min()) * 255).astype(np.uint8)
    for index, (image, label) in enumerate(zip(pixels, labels)):
        (root / f"class-{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / f"class-{label}" / f"{index:05d}.png")
    return root


def folder_step_time(dataset_name: str, count: int, batch_size: int, steps: int, turns: int, random_subnets: int,
                     folder: Path) -> dict:
    """Median seconds per training step (read the batch through the DataLoader, one sandwich step) of an image
    folder held in memory and read lazily with 0 and 1 loader workers, in alternating turns of `steps` steps."""
    import statistics

    import numpy as np
    import torch

    from nas.data.folder import load_image_folder
    from nas.data.folder_images import FolderImages
    from nas.training.loader import training_loader
    from search_spaces import create_space

    torch.set_num_threads(1)
    root = write_folder(dataset_name, count, folder / "images")
    held, lazy = load_image_folder(root, cache_bytes=1 << 40), load_image_folder(root, cache_bytes=0)
    assert isinstance(lazy.x_train, FolderImages) and isinstance(held.x_train, np.ndarray)
    samples = steps * batch_size  # one turn is one epoch of this many samples (persistent workers restart)
    space = create_space("vit", **held.space_arguments())
    torch.manual_seed(0)
    supernet = space.build_supernet().train()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    conditions = {"in_memory": (held, 0), "lazy_workers_0": (lazy, 0), "lazy_workers_1": (lazy, 1)}
    loaders = {}
    for name, (data, workers) in conditions.items():
        inputs = data.x_train[:samples] if isinstance(data.x_train, np.ndarray) else \
            FolderImages(data.x_train.files[:samples], data.x_train.size, data.x_train.channels,
                         data.preprocessing["mean"], data.preprocessing["std"])
        loaders[name] = training_loader(inputs, data.y_train[:samples], batch_size, workers, pin_memory=False)
    seconds: dict[str, list[float]] = {name: [] for name in conditions}
    for turn in range(turns + 1):  # turn 0 warms up (and starts the workers); it is not counted
        for name, (loader, batches) in loaders.items():
            batches.new_epoch(torch.Generator().manual_seed(turn))
            start = time.perf_counter()
            for batch, target in loader:
                students = [space.smallest()] + [space.sample(rng) for _ in range(random_subnets)]
                sandwich_step(space, supernet, optimizer, batch, target, students)
            if turn:
                seconds[name].append((time.perf_counter() - start) / len(batches))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    ratios = {name: round(medians[name] / medians["in_memory"], 3) for name in conditions if name != "in_memory"}
    return {"images": count, "image_shape": list(held.input_shape), "batch_size": batch_size,
            "steps_per_turn": steps, "turns": turns,
            "median_step_seconds": {name: round(value, 4) for name, value in medians.items()},
            "step_seconds_per_turn": {name: [round(value, 4) for value in values] for name, values in seconds.items()},
            "ratio_to_in_memory": ratios, "target_ratio": 1.1,
            "meets_target": {name: ratio <= 1.1 for name, ratio in ratios.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each training run (default 4)")
    parser.add_argument("--largest-only-fraction", type=float, default=0.5,
                        help="as hwnas train (default 0.5: sandwich steps from scratch stay near chance)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each step kind (default 30)")
    parser.add_argument("--random-subnets", type=int, default=2)
    parser.add_argument("--parts", default="steps,data-parallel,folder",
                        help="which measurements, comma-separated: steps, data-parallel, folder (default all)")
    parser.add_argument("--folder-images", type=int, default=2000,
                        help="images of the data set written as a PNG folder for the folder part (default 2000)")
    parser.add_argument("--folder-steps", type=int, default=8, help="steps per turn of the folder part (default 8)")
    parser.add_argument("--folder-turns", type=int, default=5, help="timed turns of the folder part (default 5)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - {"steps", "data-parallel", "folder"}
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; allowed: steps, data-parallel, folder")
    import torch

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results: dict = {"command": " ".join(["python", "scripts/bench_training.py", *sys.argv[1:]]),
                     "commit": commit.stdout.strip() or None,
                     "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "cpus": os.cpu_count(),
                     "load_average_1min": round(os.getloadavg()[0], 2), "settings": vars(args)}
    if "steps" in parts:
        results["steps"] = step_throughput(args.dataset, args.batch_size, args.steps, args.random_subnets)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as folder:
        if "data-parallel" in parts:
            one = train_run(1, args.dataset, args.epochs, args.batch_size, args.largest_only_fraction, Path(folder))
            two = train_run(2, args.dataset, args.epochs, args.batch_size, args.largest_only_fraction, Path(folder))
            speedup = two["samples_per_s"] / one["samples_per_s"]
            results["data_parallel"] = {
                "one_process": one, "two_processes": two, "throughput_ratio": round(speedup, 3),
                "target_ratio": 1.6, "meets_target": speedup >= 1.6,
                "accuracy_difference_points": round(100 * abs(two["val_accuracy_largest"]
                                                            - one["val_accuracy_largest"]), 2)}
        if "folder" in parts:
            results["image_folder"] = folder_step_time(args.dataset, args.folder_images, args.batch_size,
                                                       args.folder_steps, args.folder_turns, args.random_subnets,
                                                       Path(folder))
    results["note"] = ("samples_per_s: the training steps alone (validation, process start and imports excluded; "
                       "samples_per_s_wall includes them); image_folder: seconds per step including reading the "
                       "batch; timed on a shared machine")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
