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


# x86-cpu-ort timing a few runs only, fp32 only (so ONNX Runtime's accuracy must equal torch's exactly) and
# the plain protocol: for end-to-end tests that check the path, not the latencies.
FAST_PROFILE = """name: fast-cpu-ort
backend: onnxruntime
providers: [CPUExecutionProvider]
threads: 1
batch_size: 1
precisions: [fp32]
warmup_ms: 5
warmup_runs: 3
min_repeats: 5
min_time_ms: 20
protocol: plain
"""


@pytest.fixture(scope="session")
def fast_profile(tmp_path_factory):
    """The path of a profile file with FAST_PROFILE (shared by the end-to-end tests)."""
    path = tmp_path_factory.mktemp("profile") / "fast.yaml"
    path.write_text(FAST_PROFILE)
    return str(path)


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


@pytest.fixture(scope="session")
def write_digits():
    """Writes real digits as an image folder (root/digit-<label>/<index>.png): see `write` below."""
    import numpy as np
    from PIL import Image

    def write(root, digits, count=120, classes=10, rgb_every=2, big_every=3, suffix=".png"):
        """`count` real digits as 8-bit images: every `rgb_every`-th one RGB, every `big_every`-th one 16x16."""
        images = np.concatenate([digits.x_train, digits.x_val, digits.x_test])[:, 0]
        labels = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
        images = (images - images.min()) / (images.max() - images.min())
        written = 0
        for index, (image, label) in enumerate(zip(images, labels)):
            if label >= classes:
                continue
            picture = Image.fromarray((image * 255).astype(np.uint8))
            if index % big_every == 0:
                picture = picture.resize((16, 16), Image.Resampling.BILINEAR)
            if rgb_every and index % rgb_every == 0:
                picture = picture.convert("RGB")
            (root / f"digit-{label}").mkdir(parents=True, exist_ok=True)
            picture.save(root / f"digit-{label}" / f"{index:04d}{suffix}")
            written += 1
            if written == count:
                break
        return root

    return write
