"""Predictors evaluated on published benchmark tables (`hwnas predictor evaluate`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from predictors import PredictorError
from predictors.table import evaluate_on_table, read_table
from search_spaces import create_space

LATENCY_TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_latency_ms.csv"
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.skipif(not LATENCY_TABLE.exists(), reason=f"{LATENCY_TABLE} is not on this machine")
def test_evaluate_on_the_published_nb201_latencies():
    result = subprocess.run(
        [sys.executable, "-m", "nas.cli", "predictor", "evaluate", "--space", "nb201", "--table", str(LATENCY_TABLE),
         "--target", "gold_6226", "--train-size", "100", "--seed", "1", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["n_train"], report["n_test"]) == (100, 15525)
    assert {"mape", "within_5pct", "within_10pct", "kendall_tau", "spearman", "fit_seconds"} <= set(report)
    assert report["spearman"] > 0.85  # measured 0.93 with 100 rows (seed 0); random would be ~0


def write(tmp_path, text):
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


def test_bad_tables_name_the_line_and_column(tmp_path):
    space = create_space("nb201")
    good = f"arch_str,cpu\n{EXAMPLE},1.5\n{EXAMPLE},2.0\n"
    configs, latencies = read_table(write(tmp_path, good), space, "cpu")
    assert len(configs) == 2 and list(latencies) == [1.5, 2.0]
    with pytest.raises(PredictorError, match="has no column 'gpu'; columns: arch_str, cpu"):
        read_table(write(tmp_path, good), space, "gpu")
    with pytest.raises(PredictorError, match=r"line 4: arch_str .* unknown operation 'conv_9x9'"):
        read_table(write(tmp_path, good + EXAMPLE.replace("avg_pool_3x3", "conv_9x9") + ",1.0\n"), space, "cpu")
    with pytest.raises(PredictorError, match="line 2: column 'cpu' must be a number > 0, got 'n/a'"):
        read_table(write(tmp_path, f"arch_str,cpu\n{EXAMPLE},n/a\n"), space, "cpu")
    with pytest.raises(PredictorError, match="train size must be between 2 and 1"):
        evaluate_on_table(space, configs, latencies, 5)


@pytest.mark.skipif(not LATENCY_TABLE.exists(), reason=f"{LATENCY_TABLE} is not on this machine")
def test_nb201_affine_stage_uses_what_an_eager_runtime_computes():
    # Dead edges still run in an eager runtime, so the affine stage needs the all-edge costs too:
    # with only the live network's MACs, 500 rows of gold_6226 gave 82.6% within 10%; with them, 96%.
    space = create_space("nb201")
    configs, latencies = read_table(LATENCY_TABLE, space, "gold_6226")
    assert evaluate_on_table(space, configs, latencies, 500, seed=0)["within_10pct"] > 0.93


def test_fit_then_predict_round_trip_through_the_cli(tmp_path):
    import csv as csv_module

    from predictors import load_predictor

    space = create_space("nb201")
    rows = [space.to_arch_str(space.sample(seed)) for seed in range(40)]
    table = write(tmp_path, "arch_str,cpu\n" + "".join(
        f"{arch},{1 + space.cost_features(space.from_arch_str(arch))['computed_macs'] / 1e8:.4f}\n" for arch in rows))
    cli = [sys.executable, "-m", "nas.cli", "predictor"]
    fitted = subprocess.run(cli + ["fit", "--space", "nb201", "--table", str(table), "--target", "cpu",
                                   "--train-size", "30", "--out", str(tmp_path / "p.joblib")],
                            capture_output=True, text=True)
    assert fitted.returncode == 0, fitted.stderr
    predictor, metadata = load_predictor(tmp_path / "p.joblib")
    assert metadata["n_train"] == 30 and metadata["n_test"] == 10 and "within_10pct" in metadata
    predicted = subprocess.run(cli + ["predict", str(tmp_path / "p.joblib"), "--table", str(table),
                                      "--out", str(tmp_path / "pred.csv")], capture_output=True, text=True)
    assert predicted.returncode == 0, predicted.stderr
    with open(tmp_path / "pred.csv", newline="") as handle:
        out = list(csv_module.DictReader(handle))
    assert [row["arch_str"] for row in out] == rows
    expected = predictor.predict([space.from_arch_str(arch) for arch in rows])
    assert [float(row["predicted"]) for row in out] == pytest.approx(list(expected), rel=1e-5)
    bad = write(tmp_path, "arch_str,cpu\n|bogus~0|,1\n")
    failed = subprocess.run(cli + ["predict", str(tmp_path / "p.joblib"), "--table", str(bad), "--out",
                                   str(tmp_path / "x.csv")], capture_output=True, text=True)
    assert failed.returncode == 2 and "line 2" in failed.stderr and not (tmp_path / "x.csv").exists()


def test_a_seed_before_the_action_is_refused_not_ignored(tmp_path):
    space = create_space("nb201")
    table = write(tmp_path, "arch_str,cpu\n" + "".join(f"{space.to_arch_str(space.sample(i))},{1 + i / 10}\n"
                                                        for i in range(12)))
    arguments = ["evaluate", "--space", "nb201", "--table", str(table), "--target", "cpu", "--train-size", "8"]
    cli = [sys.executable, "-m", "nas.cli", "predictor"]
    assert subprocess.run(cli + arguments + ["--seed", "3"], capture_output=True, text=True).returncode == 0
    misplaced = subprocess.run(cli + ["--seed", "3"] + arguments, capture_output=True, text=True)
    assert misplaced.returncode == 2 and "invalid choice" in misplaced.stderr


def synthetic_two_device_table(tmp_path, rows=60):
    """An nb201 table with a `cpu` and a `gpu` column that are related but not proportional."""
    space = create_space("nb201")
    archs = [space.to_arch_str(config) for config in space.sample_distinct(rows, 11)]
    lines = ["arch_str,cpu,gpu"]
    for arch in archs:
        costs = space.cost_features(space.from_arch_str(arch))
        cpu, gpu = 1 + costs["computed_macs"] / 1e8, 0.5 + costs["live_edges"] / 4 + costs["macs"] / 4e8
        lines.append(f"{arch},{cpu:.5f},{gpu:.5f}")
    return write(tmp_path, "\n".join(lines) + "\n"), archs


def run_cli(arguments, capsys):
    from nas.cli import main

    code = main(["predictor", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_evaluate_with_priors_prints_every_metric_and_refuses_the_target_as_a_prior(tmp_path, capsys):
    table, _ = synthetic_two_device_table(tmp_path)
    common = ["evaluate", "--space", "nb201", "--table", str(table), "--target", "gpu", "--train-size", "20", "--json"]
    priors = ["--prior-table", str(table), "--prior-columns", "cpu"]
    code, out, err = run_cli(common + ["--model", "auto", *priors], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert {"mape", "within_5pct", "within_10pct", "kendall_tau", "spearman", "n_train", "n_test",
            "fit_seconds"} <= set(report)
    assert (report["n_train"], report["n_test"], report["priors"]) == (20, 40, ["cpu"])
    assert report["chosen_model"] in ("gbdt", "ridge", "additive", "mlp")
    for columns, message in (("gpu", "may not include the target column 'gpu'"), ("cpu,tpu", "no column 'tpu'")):
        code, out, err = run_cli(common + ["--prior-table", str(table), "--prior-columns", columns], capsys)
        assert code == 2 and message in err and err.count("\n") == 1 and not out
    code, _, err = run_cli(common + ["--prior-columns", "cpu"], capsys)
    assert code == 2 and "go together" in err


def test_cli_fit_on_all_rows_records_cross_validated_quality_and_predict_needs_the_prior_rows(tmp_path, capsys):
    from predictors.artifact import read_predictor_metadata

    table, archs = synthetic_two_device_table(tmp_path)
    out_file = tmp_path / "gpu.joblib"
    code, _, err = run_cli(["fit", "--space", "nb201", "--table", str(table), "--target", "gpu", "--model", "ridge",
                            "--prior-table", str(table), "--prior-columns", "cpu", "--out", str(out_file)], capsys)
    assert code == 0, err
    metadata = read_predictor_metadata(out_file)
    assert metadata["n_train"] == 60 and metadata["target"] == "gpu" and metadata["prior_table"] == str(table)
    assert metadata["cv_quality"]["folds"] == 5 and 0 < metadata["cv_quality"]["mape"] < 0.2
    assert {"scikit-learn", "numpy", "python"} <= set(metadata["versions"])
    extra = create_space("nb201").to_arch_str(create_space("nb201").largest())
    assert extra not in archs
    unknown = write(tmp_path, "arch_str\n" + archs[0] + "\n" + extra + "\n")
    predict = ["predict", str(out_file), "--table", str(unknown), "--out", str(tmp_path / "p.csv")]
    code, _, err = run_cli(predict, capsys)
    assert code == 2 and "line 3" in err and "is not in prior table" in err and not (tmp_path / "p.csv").exists()
