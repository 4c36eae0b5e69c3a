import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def digits():
    from nas.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_digits_run(tmp_path_factory, digits):
    """A run folder with a supernet trained briefly on digits, profiled and fitted (shared by tests)."""
    from nas import pipeline
    from nas.train import TrainingConfig

    run = tmp_path_factory.mktemp("digits-run")
    pipeline.train(run, dataset="digits", training=TrainingConfig(epochs=2, threads=2), progress=False)
    return run
