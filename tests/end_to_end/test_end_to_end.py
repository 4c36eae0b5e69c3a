"""The whole path on real data (digits), through the CLI, plus the bad-input contract."""

import csv
import json
import sqlite3
import subprocess
import sys

import pytest
import torch

from nas.cli import main

pytestmark = pytest.mark.slow
PROFILED, TRIALS = 10, 12  # the demo's networks: profiled for the predictor, and searched


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo")
    # the fewest networks that still exercise every step: 10 profiled (8 is the least `profile` takes), and
    # 12 trials, so that the guided sampler's models (trusted from its 11th network on) pick the last two
    code = main(["demo", "--run", str(run), "--dataset", "digits", "--epochs", "4", "--count", str(PROFILED),
                 "--trials", str(TRIALS), "--quiet"])
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
        drift = abs(card["latency_ms"] - card["search_latency_ms"]) / card["search_latency_ms"]
        assert card["latency_differs_from_search"] == (drift > 0.10)
        assert (demo_run / "models" / card["file"]).stat().st_size == card["file_bytes"]
    # a front, fastest first by the search's measurements (the export re-times each file: its own numbers)
    latencies = [card["search_latency_ms"] for card in cards]
    accuracies = [card["val_accuracy"] for card in cards]
    assert latencies == sorted(latencies) and accuracies == sorted(accuracies)
    report = json.loads((demo_run / "predictor.json").read_text())
    assert set(report["held_out"]) >= {"mape", "within_5pct", "within_10pct", "kendall_tau", "spearman",
                                       "interval_coverage_80", "interval_coverage_95"}
    from predictors import load_predictor, with_intervals

    predictor = with_intervals(*load_predictor(demo_run / "predictor.joblib"), "predictor.joblib")
    assert predictor.calibration.count == report["fitted_on"]  # cross-validated on every measurement


def test_every_front_latency_is_a_real_measurement(demo_run):
    front = json.loads((demo_run / "front.json").read_text())
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        stored = {row[0]: row[1] for row in connection.execute("SELECT config_id, median_ms FROM measurements")}
    for entry in front:
        assert stored[entry["config_id"]] == pytest.approx(entry["latency_ms"])


def test_search_resumes_its_study(demo_run):
    import optuna

    more = str(TRIALS + 3)
    assert main(["search", "--run", str(demo_run), "--trials", more, "--quiet"]) == 2  # a stored study needs --resume
    assert main(["search", "--run", str(demo_run), "--trials", more, "--resume", "--quiet"]) == 0
    study = optuna.load_study(study_name="hwnas", storage=f"sqlite:///{demo_run / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len({t.user_attrs["config_id"] for t in complete}) == TRIALS + 3
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
    assert len(rows) >= TRIALS
    assert {"trial", "state", "val_accuracy", "latency_ms", "predicted_accuracy"} <= set(rows[0])
    assert any(row["predicted_accuracy"] for row in rows)  # the guided sampler's predictions, before measuring
    assert {"predicted_latency_low_ms", "predicted_latency_high_ms"} <= set(rows[0])  # the 90% intervals
    for name in ("pareto.png", "hypervolume.png", "predicted_latency.png"):
        assert (demo_run / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerunning_profile_measures_nothing_new(demo_run):
    with sqlite3.connect(demo_run / "measurements.db") as connection:
        before = connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    assert main(["profile", "--run", str(demo_run), "--count", str(PROFILED), "--quiet"]) == 0
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
        (["train", "--run", str(tmp_path / "a"), "--dataset", "digits", "--space-args", '{"num_classes": 3}'],
         "space argument 'num_classes' = 3 does not fit the data set 'digits', whose num_classes is 10"),
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


# ---------------------------------------------------------------- export formats, extraction, elastic bundle

def _sha256(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_bundles_its_front_and_selects_at_two_budgets(demo_run):
    from nas import ElasticModel
    from nas.export.run import describe_selection

    cards = json.loads((demo_run / "models" / "index.json").read_text())
    model = ElasticModel.load(demo_run / "models" / "elastic.pt")
    assert sorted(v.name for v in model.variants) == sorted(card["config_id"] for card in cards)
    for variant in model.variants:  # each variant carries its card's re-timed latency and accuracy
        card = next(card for card in cards if card["config_id"] == variant.name)
        assert variant.latency_ms == card["latency_ms"] and variant.accuracy == card["test_accuracy_torch"]
    lines = describe_selection(demo_run / "models" / "elastic.pt")
    assert len([line for line in lines if "select(latency_ms=" in line]) >= 1


def test_bench_export_reports_sizes_switching_and_exact_parity(demo_run, tmp_path, run_script):
    result = run_script("bench_export.py", "--run", demo_run, "--out", tmp_path, "--switches", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["parity_ok"] and report["parity_max_abs_logit_difference"] == 0.0
    assert report["bundle_bytes"] < report["standalone_sum_bytes"] or report["variants"] == 1
    assert report["switch_seconds_median"] > 0


def test_every_format_is_written_checked_verified_and_retimed(demo_run, tmp_path, capsys):
    from nas.models.onnx_export import check_onnx

    out = tmp_path / "formats"
    assert main(["export", "--run", str(demo_run), "--trials", "1,2", "--format", "onnx,int8,fp16,tensorrt,elastic",
                 "--out", str(out), "--quiet"]) == 0
    assert "select(latency_ms=" in capsys.readouterr().out
    cards = json.loads((out / "index.json").read_text())
    assert [card["trial"] for card in cards] == [1, 2]
    for card in cards:
        markdown = (out / f"{card['config_id']}.md").read_text()  # YAML front matter, then the page
        assert markdown.startswith("---\nlibrary_name: hwnas\n") and f"\n---\n# Model {card['config_id']}\n" in markdown
        assert set(card["artifacts"]) == {"onnx", "int8", "fp16", "tensorrt"}
        assert "tensorrt cannot be imported" in card["artifacts"]["tensorrt"]["skipped"]
        for name in ("onnx", "int8", "fp16"):
            artifact = card["artifacts"][name]
            path = out / artifact["file"]
            check_onnx(path)
            assert artifact["verified"], (name, artifact)
            assert artifact["sha256"] == _sha256(path) and artifact["file_bytes"] == path.stat().st_size
            assert artifact["latency_ms"] > 0 and artifact["profile_fingerprint"] == card["profile_fingerprint"]
        assert card["artifacts"]["int8"]["integer_kernels"] == card["artifacts"]["int8"]["int8_layers"] > 0
        # ONNX Runtime's CPU provider runs no float16 arithmetic here: it casts around every compute operator
        assert "MatMul" in card["artifacts"]["fp16"]["runtime_float32_operators"]
        assert card["latency_ms"] == card["artifacts"]["onnx"]["latency_ms"]  # the card reports the file it names
    assert cards[0]["int8_layers"] == 0 and cards[1]["int8_layers"] > 0  # trial 1: fp32 anchor; 2: int8 anchor
    from nas import ElasticModel

    assert len(ElasticModel.load(out / "elastic.pt").variants) == 2
    # hwnas predict on the test split as an .npz of the data set's values (digits: 0..16 / 16) reaches each
    # file's runtime accuracy exactly; the int8 file (dynamic int8) runs one input per call, as verified
    import numpy as np
    from sklearn.datasets import load_digits

    from nas.data import split_indices

    digits = load_digits()
    _, _, test = split_indices(digits.target)
    np.savez(tmp_path / "test.npz", x=digits.images[test] / 16.0)
    for name in ("onnx", "int8", "fp16"):
        artifact = cards[1]["artifacts"][name]
        assert main(["predict", str(out / artifact["file"]), str(tmp_path / "test.npz"), "--out",
                     str(tmp_path / "p.json")]) == 0
        chosen = [result["predictions"][0]["label"] for result in json.loads((tmp_path / "p.json").read_text())]
        assert float(np.mean(np.array(chosen) == digits.target[test])) == artifact["test_accuracy_runtime"], name


def test_exports_are_byte_identical(demo_run, tmp_path):
    import onnx

    for name in ("a", "b"):  # with a fixed batch and another opset, which the files must then have
        assert main(["export", "--run", str(demo_run), "--trials", "2", "--format", "onnx,fp16", "--no-dynamic-batch",
                     "--opset", "19", "--out", str(tmp_path / name), "--quiet"]) == 0
    files = sorted(path.name for path in (tmp_path / "a").glob("*.onnx"))
    assert len(files) == 2
    for name in files:
        assert _sha256(tmp_path / "a" / name) == _sha256(tmp_path / "b" / name), name
        model = onnx.load(str(tmp_path / "a" / name))
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
        assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 19
    card = json.loads((tmp_path / "a" / "index.json").read_text())[0]
    assert card["artifacts"]["onnx"]["verified"] and card["artifacts"]["fp16"]["verified"]


def test_extract_a_trial_and_a_config_file_then_load_without_the_supernet(demo_run, tmp_path):
    import torch

    from nas import load_subnet
    from nas.models.checkpoint import load_supernet
    from nas.data import load_dataset

    result = run_cli("extract", "--run", str(demo_run), "--trial", "3", "--out", str(tmp_path / "subnet.pt"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    card = json.loads((demo_run / "models" / "index.json").read_text())[0]
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert main(["extract", "--run", str(demo_run), "--config", str(tmp_path / "card.json"),
                 "--out", str(tmp_path / "from-card.pt")]) == 0
    space, supernet, _ = load_supernet(demo_run / "supernet.pt")
    images = torch.from_numpy(load_dataset("digits").x_test[:40])
    for path, config_id in [(tmp_path / "subnet.pt", summary["config_id"]), (tmp_path / "from-card.pt", card["config_id"])]:
        network = load_subnet(path)
        config = next(c for c in [space.smallest(), space.at_precision(space.smallest(), "fp32"), card["config"]]
                      if space.config_id(c) == config_id)
        with torch.no_grad():
            torch.testing.assert_close(network(images), supernet(images, config), atol=1e-5, rtol=0)
    assert summary["file_bytes"] < (demo_run / "supernet.pt").stat().st_size / 5


def test_bad_export_and_extract_inputs_give_one_line_errors(demo_run, tmp_path, capsys):
    config = json.loads((demo_run / "models" / "index.json").read_text())[0]["config"]
    (tmp_path / "bad.json").write_text(json.dumps({**config, "depth": 99}))
    cases = [
        (["export", "--run", str(demo_run), "--trials", "99999", "--out", str(tmp_path / "x")], "trial 99999"),
        (["export", "--run", str(demo_run), "--trials", "1,x"], "--trials must be"),
        (["export", "--run", str(demo_run), "--format", "onnx,tflite"], "unknown format 'tflite'"),
        (["export", "--run", str(demo_run), "--opset", "5"], "--opset must be an integer from 18 to 20"),
        (["export", "--run", str(demo_run), "--opset", "17"], "from 18 to 20 with the dynamo exporter"),
        (["extract", "--run", str(demo_run), "--trial", "99999", "--out", str(tmp_path / "s.pt")], "trial 99999"),
        (["extract", "--run", str(demo_run), "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "s.pt")],
         "'depth' = 99 is not allowed"),
        (["extract", "--run", str(tmp_path / "none"), "--trial", "1", "--out", str(tmp_path / "s.pt")], "does not exist"),
    ]
    before = _sha256(demo_run / "models" / "index.json")
    for arguments, message in cases:  # in this process (the CLI's error path is the same; see above)
        assert main(arguments) == 2, arguments
        error = capsys.readouterr().err
        assert message in error and error.startswith("hwnas: error: "), (arguments, error)
        assert len(error.strip().splitlines()) == 1, error
    assert _sha256(demo_run / "models" / "index.json") == before and not (tmp_path / "s.pt").exists()


def test_export_on_several_profiles_gives_a_dispatch_table(demo_run, tmp_path, capsys, caplog):
    """--profiles: each network re-timed on the 1- and 2-thread CPU profiles; a GPU profile that cannot run
    on this CPU-only onnxruntime is skipped with its reason on stderr, in the cards and in the bundle."""
    import numpy as np

    from nas.data import load_dataset
    from nas.export.elastic import ElasticModel

    assert main(["export", "--run", str(demo_run), "--trials", "2,3", "--format", "onnx,elastic", "--quiet",
                 "--profiles", "x86-cpu-ort,x86-cpu-ort-2t,nvidia-gpu-ort-cuda", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr()
    assert "nvidia-gpu-ort-cuda does not run here" in caplog.text and "on x86-cpu-ort-2t: from " in printed.out
    for card in json.loads((tmp_path / "index.json").read_text()):
        assert set(card["latencies"]) == {"x86-cpu-ort", "x86-cpu-ort-2t"}
        assert set(card["profiles_skipped"]) == {"nvidia-gpu-ort-cuda"}
        assert json.loads((tmp_path / f"{card['config_id']}.json").read_text())["latencies"] == card["latencies"]
    model = ElasticModel.load(tmp_path / "elastic.pt")
    assert model.profiles == ["x86-cpu-ort", "x86-cpu-ort-2t"] and set(model.dispatch_table()) == set(model.profiles)
    fastest = model.dispatch_table()["x86-cpu-ort-2t"][0]  # hwnas predict picks by the budget on that device
    np.savez(tmp_path / "one.npz", x=load_dataset("digits").x_test[:1])
    assert main(["predict", str(tmp_path / "elastic.pt"), str(tmp_path / "one.npz"), "--latency-ms",
                 str(fastest["from_ms"]), "--profile", "x86-cpu-ort-2t", "--out", str(tmp_path / "p.csv")]) == 0
    assert f"elastic.pt:{fastest['variant']}" in capsys.readouterr().out
    assert main(["export", "--run", str(demo_run), "--profiles", "no-such-profile", "--out", str(tmp_path / "x")]) == 2
    assert "unknown hardware profile 'no-such-profile'" in capsys.readouterr().err and not (tmp_path / "x").exists()
