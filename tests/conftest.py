import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# The interleaved protocol calibrates its reference network once per machine and profile into this cache
# (hw_profiles.reference): tests use a folder of their own, never the user's ~/.cache/hwnas.
if "HWNAS_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["HWNAS_CACHE_DIR"] = tempfile.mkdtemp(prefix="hwnas-test-cache-")


@pytest.fixture(scope="session")
def digits():
    from nas.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_digits_run(tmp_path_factory, digits):
    """A run folder with a supernet trained briefly (2 epochs) on digits (shared by tests)."""
    from nas import pipeline
    from nas.training.train import TrainingConfig

    run = tmp_path_factory.mktemp("digits-run")
    pipeline.train(run, dataset="digits", training=TrainingConfig(epochs=2, threads=2), progress=False)
    return run


@pytest.fixture(scope="session")
def run_script():
    """Runs `scripts/NAME` with these arguments in a fresh interpreter (as a user would), returning the
    CompletedProcess with its stdout and stderr as text."""
    import subprocess

    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def run(name: str, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(scripts / name), *map(str, arguments)],
                              capture_output=True, text=True)

    return run
