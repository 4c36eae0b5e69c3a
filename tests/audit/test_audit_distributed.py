"""`hwnas audit` under torchrun: two real gloo processes on digits audit two networks for one epoch. Each
stand-alone training is data-parallel over the ranks, so the accuracies match a one-process audit of the
same run; rank 0 alone writes; `--nproc` refuses bad input in one line before it starts any process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from nas.audit import AuditConfig, audit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# no conv stem (its BatchNorm would use per-rank batch statistics), fp32 only: four small networks
SPACE = {"stem_channels": 0, "depth_choices": [1, 2], "embed_dim_choices": [16, 24], "num_heads_choices": [1],
         "mlp_ratio_choices": [1.0]}
AUDIT = AuditConfig(subnets=2, epochs=1, device="cpu")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from nas import pipeline
    from nas.training.train import TrainingConfig

    run = tmp_path_factory.mktemp("audit-ddp") / "run"
    pipeline.train(run, dataset="digits", space_arguments=SPACE, profile_name=None, progress=False,
                   training=TrainingConfig(epochs=1, batch_size=64, augment=False, threads=1, device="cpu"))
    return run


def _rank(rank: int, world: int, port: int, run: str, record: str) -> None:
    import importlib

    module, cards, plots = (importlib.import_module(name) for name in ("nas.audit.audit", "nas.audit.cards",
                                                                       "nas.report.plots"))

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    writes = []
    if rank:  # every file write of the audit itself goes through these: rank 1 must make none
        def recorded(original):
            return lambda path, *arguments, **keywords: writes.append(str(path)) or original(path, *arguments,
                                                                                               **keywords)
        module.write_atomically = recorded(module.write_atomically)
        cards.write_atomically = recorded(cards.write_atomically)
        plots.save_png = recorded(plots.save_png)
    report = audit(run, AUDIT, progress=False)
    Path(record, f"rank{rank}.json").write_text(json.dumps({"writes": writes, "networks": report["networks"]}))


def test_two_gloo_ranks_audit_like_one_process_and_only_rank_zero_writes(trained_run, tmp_path):
    from nas.models.checkpoint import load_checkpoint
    from nas.models.checkpoint import open_run
    from nas.run_folder import RunFolder
    from tests.training.test_distributed import free_port

    single, double = tmp_path / "single", tmp_path / "double"
    shutil.copytree(trained_run, single)
    shutil.copytree(trained_run, double)
    expected = audit(single, AUDIT, progress=False)["networks"]
    mp.spawn(_rank, args=(2, free_port(), str(double), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert ranks[1]["writes"] == []
    assert ranks[0]["networks"] == ranks[1]["networks"]
    written = json.loads((double / "audit.json").read_text())["networks"]
    assert written == ranks[0]["networks"]
    test_images = len(open_run(RunFolder(double))[2].y_test)
    assert [row["config_id"] for row in written] == [row["config_id"] for row in expected]
    for two, one in zip(written, expected):  # the same weights up to float rounding: at most one image apart
        assert abs(two["standalone_test_accuracy"] - one["standalone_test_accuracy"]) <= 1.01 / test_images
        assert two["inherited_test_accuracy"] == one["inherited_test_accuracy"]
        (checkpoint,) = (double / "audit" / two["config_id"]).glob("standalone-*.pt")
        assert load_checkpoint(checkpoint)["training"]["world_size"] == 2
        assert len(list((double / "audit" / two["config_id"]).glob("standalone-*.json"))) == 1


def test_nproc_refuses_bad_input_in_one_line_before_starting(trained_run, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for arguments, message in ((["--run", trained_run, "--subnets", "9", "--nproc", "2"], "ask for at most 4"),
                               (["--run", tmp_path / "untrained", "--nproc", "2"], "supernet.pt does not exist"),
                               (["--run", trained_run, "--nproc", "0"], "--nproc must be a positive integer")):
        process = subprocess.run([sys.executable, "-m", "nas", "audit", *map(str, arguments), "--quiet"], cwd=ROOT,
                                 env=environment, capture_output=True, text=True, timeout=120)
        assert process.returncode == 2 and len(process.stderr.strip().splitlines()) == 1, process.stderr
        assert message in process.stderr, process.stderr
    assert not (tmp_path / "untrained").exists() and not (trained_run / "audit").exists()
