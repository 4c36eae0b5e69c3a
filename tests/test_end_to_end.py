"""The whole path on real data (digits), through the CLI, plus the bad-input contract."""

import json
import sqlite3
import subprocess
import sys

import pytest
import torch

from nas.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--run", str(run), "--dataset", "digits", "--epochs", "4", "--count", "20",
                 "--trials", "40", "--quiet"])
    assert code == 0
    return run


def test_demo_writes_every_artifact_and_verified_models(demo_run):
    for name in ("supernet.pt", "measurements.db", "study.db", "predictor.joblib", "predictor.json",
                 "pareto.csv", "pareto.png", "trials.csv", "front.json", "run.json", "models/index.json"):
        assert (demo_run / name).exists(), name
    cards = json.loads((demo_run / "models" / "index.json").read_text())
    assert cards, "the front is empty"
    assert "block0.precision" in cards[0]["config"]  # x86-cpu-ort declares int8: the demo searches precisions
    for card in cards:
        assert card["verified"], card
        if card["int8_layers"]:  # integer kernels for exactly the int8 layers, accuracy within half a point
            assert card["integer_kernels"] == card["int8_layers"]
            assert abs(card["test_accuracy_torch"] - card["test_accuracy_onnxruntime"]) <= 0.005
        else:  # all-fp32 keeps the skeleton's parity
            assert card["max_abs_logit_difference"] <= 1e-4
            assert card["test_accuracy_torch"] == card["test_accuracy_onnxruntime"]
        assert card["latency_ms"] > 0 and len(card["profile_fingerprint"]) == 16
        assert (demo_run / "models" / card["file"]).stat().st_size == card["file_bytes"]
    latencies = [card["latency_ms"] for card in cards]
    accuracies = [card["val_accuracy"] for card in cards]
    assert latencies == sorted(latencies) and accuracies == sorted(accuracies)  # a front, fastest first
    report = json.loads((demo_run / "predictor.json").read_text())
    assert set(report["held_out"]) >= {"mape", "within_5pct", "within_10pct", "kendall_tau", "spearman"}


def test_every_front_latency_is_a_real_measurement(demo_run):
    front = json.loads((demo_run / "front.json").read_text())
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        stored = {row[0]: row[1] for row in connection.execute("SELECT config_id, median_ms FROM measurements")}
    for entry in front:
        assert stored[entry["config_id"]] == pytest.approx(entry["latency_ms"])


def test_search_resumes_its_study(demo_run):
    import optuna

    assert main(["search", "--run", str(demo_run), "--trials", "45", "--quiet"]) == 0
    study = optuna.load_study(study_name="hwnas", storage=f"sqlite:///{demo_run / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 45


def test_rerunning_profile_measures_nothing_new(demo_run):
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        before = connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    assert main(["profile", "--run", str(demo_run), "--count", "20", "--quiet"]) == 0
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == before


def run_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "nas.cli", *arguments], capture_output=True, text=True)


def test_infeasible_budget_names_the_fastest_network(demo_run):
    before = (demo_run / "front.json").read_bytes()
    result = run_cli("search", "--run", str(demo_run), "--latency-ms", "0.000001", "--quiet")
    assert result.returncode == 2
    assert "cannot be met: the fastest measured network" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (demo_run / "front.json").read_bytes() == before


def test_bad_inputs_give_one_line_errors(tmp_path, demo_run):
    cases = [
        (["train", "--run", str(tmp_path / "a"), "--space", "nope", "--dataset", "digits"], "unknown search space"),
        (["train", "--run", str(tmp_path / "a"), "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["export", "--run", str(tmp_path / "empty")], "does not exist"),
        (["profile", "--run", str(demo_run), "--profile", "no-such-profile"], "no-such-profile"),
    ]
    malformed = tmp_path / "bad.yaml"
    malformed.write_text("name: x\nbackend: [unclosed\n")
    cases.append((["profile", "--run", str(demo_run), "--profile", str(malformed)], "bad.yaml"))
    unknown_backend = tmp_path / "unknown-backend.yaml"
    unknown_backend.write_text("name: x\nbackend: openvino\n")
    cases.append((["profile", "--run", str(demo_run), "--profile", str(unknown_backend)],
                  "field 'backend' must be one of"))
    cases.append((["profile", "--run", str(demo_run), "--workers", "0"], "workers must be a positive integer, got 0"))
    cases.append((["profile", "--run", str(tmp_path / "untrained")], "or give --space"))
    cases.append((["profile", "--run", str(demo_run), "--space", "nb201"], "holds a trained supernet of space 'vit'"))
    if not torch.cuda.is_available():  # a device that is not there
        cases.append((["profile", "--run", str(demo_run), "--profile", "nvidia-gpu-torch"],
                      "profile 'nvidia-gpu-torch' cannot be timed here"))
    corrupt_run = tmp_path / "corrupt"
    corrupt_run.mkdir()
    (corrupt_run / "supernet.pt").write_bytes(b"not a checkpoint")
    cases.append((["profile", "--run", str(corrupt_run)], "corrupt"))
    for arguments, message in cases:
        result = run_cli(*arguments)
        assert result.returncode == 2, (arguments, result.stderr)
        assert message in result.stderr, (arguments, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (corrupt_run / "supernet.pt").read_bytes() == b"not a checkpoint"
