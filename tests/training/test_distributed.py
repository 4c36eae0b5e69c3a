"""Data-parallel training on CPU with real gloo process groups (no mocks): 2 ranks with the global batch B
train the same weights as 1 process with batch B, sample the same sub-networks, and a 2-process run
killed after an epoch resumes on 1 process."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from nas.training.train import TrainingConfig, train_supernet
from search_spaces import create_space

ROOT = Path(__file__).resolve().parents[2]
# No conv stem (its BatchNorm would use per-rank batch statistics), small and fast.
SPACE = {"stem_channels": 0, "embed_dim_choices": [16, 24], "num_heads_choices": [1, 2], "depth_choices": [1, 2]}
STEPS, BATCH = 10, 32
CONFIG = TrainingConfig(epochs=1, batch_size=BATCH, augment=False, largest_only_fraction=0.0, threads=1,
                        device="cpu")


def ten_steps(dataset):
    """The data set cut to STEPS global batches of BATCH (one epoch = 10 steps)."""
    return replace(dataset, x_train=dataset.x_train[:STEPS * BATCH], y_train=dataset.y_train[:STEPS * BATCH])


def recording_space(dataset):
    """The real space; its `sample` also records what it returned."""
    space = create_space("vit", **dataset.space_arguments(), **SPACE)
    sampled, sample = [], space.sample
    space.sample = lambda rng: sampled.append(sample(rng)) or sampled[-1]
    return space, sampled


def _rank(rank: int, world: int, port: int, folder: str) -> None:
    from nas.data import load_dataset

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    dataset = ten_steps(load_dataset("digits"))
    space, sampled = recording_space(dataset)
    state = train_supernet(space, dataset, Path(folder) / "supernet.pt", CONFIG, progress=False)
    torch.save({"model": state["model"], "sampled": [space.config_id(c) for c in sampled]},
               Path(folder) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_gloo_ranks_train_the_weights_of_one_process(tmp_path, digits):
    data = ten_steps(digits)
    space, sampled = recording_space(data)
    single = train_supernet(space, data, tmp_path / "single.pt", CONFIG, progress=False)
    mp.spawn(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert len(sampled) == STEPS * CONFIG.random_subnets
    assert ranks[0]["sampled"] == ranks[1]["sampled"] == [space.config_id(c) for c in sampled]
    for name, expected in single["model"].items():
        for rank in ranks:
            difference = (rank["model"][name].float() - expected.float()).norm()
            assert difference <= 1e-4 * max(expected.float().norm(), 1e-6), name
    assert torch.load(tmp_path / "supernet.pt", weights_only=True)["training"]["world_size"] == 2


def hwnas(*arguments, **options):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nas", *map(str, arguments)], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def test_two_process_run_killed_after_an_epoch_resumes_on_one(tmp_path):
    from nas.models.checkpoint import load_checkpoint

    run, epochs = tmp_path / "run", 6
    arguments = ["train", "--run", run, "--dataset", "digits", "--epochs", epochs, "--quiet",
                 "--space-args", '{"embed_dim_choices": [16, 24], "num_heads_choices": [1, 2]}']
    launcher = hwnas(*arguments, "--nproc", 2, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (run / "supernet.pt").exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    # SIGTERM to the session we started (launcher and torchrun); torchrun ends its workers, which run in
    # sessions of their own
    os.killpg(launcher.pid, signal.SIGTERM)
    launcher.communicate(timeout=120)
    first = load_checkpoint(run / "supernet.pt")
    assert first["training"]["world_size"] == 2 and 1 <= first["epoch"] < epochs
    resumed = hwnas(*arguments)
    out, err = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, err
    final = load_checkpoint(run / "supernet.pt")
    assert [r["epoch"] for r in final["history"]] == list(range(1, epochs + 1))
    assert final["training"]["world_size"] == 1 and final["history"][-1]["val_accuracy_largest"] > 0.3


def test_device_cuda_without_cuda_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for arguments in (["train", "--run", tmp_path / "a", "--dataset", "digits", "--device", "cuda"],
                      ["train", "--run", tmp_path / "b", "--dataset", "digits", "--device", "cuda", "--nproc", 2],
                      ["train", "--run", tmp_path / "c", "--dataset", "digits", "--device", "tpu"]):
        process = hwnas(*arguments)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("hwnas: error: --device") and ("torch " in err or "auto, cpu, cuda" in err), err
    assert not (tmp_path / "a").exists()
