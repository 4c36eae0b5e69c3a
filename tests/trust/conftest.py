"""A tiny but complete run folder (train, profile, fit, search, export) on a 45-image `.npz` and a quick
CPU profile, shared by the trust tests: every file hwnas reads exists and is real."""

import shutil
from pathlib import Path

import numpy as np
import pytest

QUICK_PROFILE = """\
name: quick-cpu
backend: onnxruntime
providers: [CPUExecutionProvider]
threads: 1
batch_size: 1
precisions: [fp32]
warmup_ms: 0
warmup_runs: 1
min_repeats: 3
min_time_ms: 0
max_cv: 10
max_retries: 0
"""


def tiny_images(path: Path, classes: int = 3, per_class: int = 15) -> Path:
    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), per_class)
    images = generator.random((len(labels), 8, 8)).astype(np.float32) + labels[:, None, None]
    np.savez(path, x=images, y=labels)
    return path


@pytest.fixture(scope="session")
def complete_run(tmp_path_factory):
    """(run folder, profile YAML, data .npz): trained 1 epoch, 8 networks profiled, fitted, searched (4
    trials) and exported (onnx, elastic). Tests copy it before they change anything (see `run_copy`)."""
    from nas import pipeline
    from nas.search.driver import SearchConfig
    from nas.training.train import TrainingConfig

    root = tmp_path_factory.mktemp("trust")
    profile = root / "quick.yaml"
    profile.write_text(QUICK_PROFILE)
    data = tiny_images(root / "tiny.npz")
    run = root / "run"
    pipeline.train(run, dataset=str(data), profile_name=str(profile), progress=False,
                   training=TrainingConfig(epochs=1, batch_size=16, threads=1))
    pipeline.profile(run, str(profile), count=8, progress=False)
    pipeline.fit(run, progress=False)
    pipeline.search(run, SearchConfig(trials=4, sampler="random"), progress=False)
    pipeline.export(run, progress=False, formats="onnx,elastic")
    return run, profile, data


@pytest.fixture
def run_copy(complete_run, tmp_path):
    """A private copy of the complete run (and its profile and data), free to change."""
    run, profile, data = complete_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy, profile, data
