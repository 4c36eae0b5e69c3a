"""Training on CUDA with AMP. Marked `gpu`: skipped, with the reason, where torch has no CUDA device (as on
the 2-core development machine, where this path has never run)."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from nas.models.checkpoint import load_supernet
from nas.models.evaluate import subnet_accuracy
from nas.training.train import TrainingConfig, train_supernet
from search_spaces import create_space

ROOT = Path(__file__).resolve().parents[2]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason=f"no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda})")


@pytest.mark.gpu
@needs_cuda
def test_cuda_training_with_amp_and_a_cpu_search_of_it(tmp_path, digits):
    space = create_space("vit", **digits.space_arguments())
    state = train_supernet(space, digits, tmp_path / "s.pt", TrainingConfig(epochs=2, device="cuda"), progress=False)
    expected = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    assert state["training"]["device_used"].startswith("cuda") and state["training"]["amp_dtype"] == expected
    assert state["history"][-1]["val_accuracy_largest"] > 0.5
    space, supernet, _ = load_supernet(tmp_path / "s.pt")  # a CUDA-trained run, evaluated on the CPU
    assert subnet_accuracy(space, supernet, space.largest(), digits.x_val, digits.y_val, digits.x_train) > 0.5


@pytest.mark.gpu
@needs_cuda
def test_cuda_and_cpu_evaluation_agree(trained_digits_run, digits):
    space, supernet, _ = load_supernet(trained_digits_run / "supernet.pt")
    on_cpu = subnet_accuracy(space, supernet, space.smallest(), digits.x_val, digits.y_val, digits.x_train)
    on_cuda = subnet_accuracy(space, supernet.cuda(), space.smallest(), digits.x_val, digits.y_val, digits.x_train)
    assert abs(on_cpu - on_cuda) <= 0.01


def test_gpu_check_says_why_it_cannot_run_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: scripts/gpu_check.sh runs for real")
    import sys

    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["ok"] is False and "no CUDA GPU" in report["reason"]
