"""The whole path on real data (digits), through the CLI, plus the bad-input contract."""

import csv
import json
import sqlite3
import subprocess
import sys

import pytest

from nas.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--run", str(run), "--dataset", "digits", "--epochs", "4", "--count", "20",
                 "--trials", "20", "--quiet"])
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

    assert main(["search", "--run", str(demo_run), "--trials", "23", "--quiet"]) == 2  # a stored study needs --resume
    assert main(["search", "--run", str(demo_run), "--trials", "23", "--resume", "--quiet"]) == 0
    study = optuna.load_study(study_name="hwnas", storage=f"sqlite:///{demo_run / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len({t.user_attrs["config_id"] for t in complete}) == 23
    assert all(t.user_attrs["latency_source"] == "measured" for t in complete if not t.user_attrs.get("repeat"))


def test_every_trial_latency_is_a_real_measurement_and_the_front_was_timed_again(demo_run):
    trials = list(csv.DictReader(open(demo_run / "trials.csv")))
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        stored = {row[0]: row[1] for row in connection.execute("SELECT config_id, median_ms FROM measurements")}
    for trial in trials:
        assert stored[trial["config_id"]] == pytest.approx(float(trial["latency_ms"]))
    for entry in json.loads((demo_run / "front.json").read_text()):
        assert entry["remeasured_latency_ms"] > 0 and "latency_unstable" in entry


def test_report_writes_plots_and_every_trial(demo_run):
    assert main(["report", str(demo_run)]) == 0
    rows = list(csv.DictReader(open(demo_run / "report" / "trials.csv")))
    assert len(rows) >= 20 and {"trial", "state", "val_accuracy", "latency_ms", "predicted_accuracy"} <= set(rows[0])
    assert any(row["predicted_accuracy"] for row in rows)  # the guided sampler's predictions, before measuring
    for name in ("pareto.png", "hypervolume.png"):
        assert (demo_run / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
