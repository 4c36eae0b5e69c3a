"""The evaluation protocol: fixed device folds, paired comparisons, and the bench script's held-out report."""

import json
import math

import pytest

from nas.search.folds import device_folds, latency_budgets, paired_difference, split_columns

COLUMNS = ["1080ti_1", "1080ti_32", "1080ti_256", "2080ti_1", "2080ti_32", "2080ti_256", "titanx_1", "titanx_32",
           "titanx_256", "gold_6226", "silver_4114", "pixel2", "samsung_a50"]


def test_folds_are_fixed_disjoint_and_cover_every_column():
    folds = device_folds(COLUMNS, 3)
    assert folds == device_folds(list(reversed(COLUMNS)), 3)  # the order given does not matter
    assert sorted(c for fold in folds for c in fold) == sorted(COLUMNS)
    assert [len(fold) for fold in folds] == [5, 4, 4]
    split = split_columns(COLUMNS, 3, 1)
    assert split["held_out"] == folds[1] and not set(split["held_out"]) & set(split["training"])
    with pytest.raises(ValueError, match="folds must be between 2"):
        device_folds(COLUMNS, 1)
    with pytest.raises(ValueError, match="held-out fold must be between 0 and 2"):
        split_columns(COLUMNS, 3, 3)


def test_held_out_only_columns_join_the_held_out_fold_and_leave_the_others_as_they_were():
    new = ["ort_1t_b1_fp32", "ort_1t_b1_int8"]
    for fold in range(3):
        plain, split = split_columns(COLUMNS, 3, fold), split_columns(COLUMNS + new, 3, fold, held_out_only=new)
        assert split["training"] == plain["training"] and not set(new) & set(split["training"])
        assert split["held_out"] == plain["held_out"] + sorted(new)
    assert split_columns(new, 3, 0, held_out_only=new) == {"training": [], "held_out": sorted(new)}


def test_paired_differences_pair_by_column_and_seed_and_name_the_worst_column():
    variant = {("a", 0): 0.9, ("a", 1): 0.8, ("b", 0): 0.5, ("b", 1): 0.7, ("c", 0): 1.0}
    baseline = {("a", 0): 0.8, ("a", 1): 0.8, ("b", 0): 0.6, ("b", 1): 0.6}  # ("c", 0) has no pair
    result = paired_difference(variant, baseline)
    assert result["pairs"] == 4 and result["mean"] == pytest.approx(0.025)
    assert result["worst_column"] == "b" and result["worst_column_median"] == pytest.approx(0.0)
    assert result["standard_error"] > 0 and not math.isnan(result["standard_error"])
    assert paired_difference({}, baseline) == {"pairs": 0}


def test_budgets_are_latency_percentiles():
    assert latency_budgets(range(1, 101)) == {"p25": 25.75, "p50": 50.5, "p75": 75.25}


def test_the_bench_reports_training_and_held_out_columns_apart_with_paired_differences(run_script):
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    result = run_script("bench_search.py", "--accuracy-table", data / "nb201_slice_accuracy.csv",
                        "--latency-table", data / "nb201_slice_latency_ms.csv",
                        "--columns", "gold_6226,pixel2,titanx_1,2080ti_32", "--seeds", "0", "--budgets", "8",
                        "--samplers", "random,tpe", "--folds", "2", "--held-out-fold", "1", "--baseline", "random")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["splits"]) == {"training", "held_out"}
    assert sorted(report["splits"]["training"] + report["splits"]["held_out"]) == sorted(
        ["gold_6226", "pixel2", "titanx_1", "2080ti_32"])
    for split in ("training", "held_out"):
        row = report["summary"][split]["tpe@8"]
        assert row["worst_column"] in report["splits"][split]
        assert set(row["median_regret"]) == {"p25", "p50", "p75"}
        assert report["paired"][split]["tpe-random@8"]["pairs"] == len(report["splits"][split])


def test_merging_the_held_out_folds_reports_every_column_once(run_script, tmp_path):
    """One held-out run per fold, merged, summarises as one run over all the columns would; a fold merged
    twice is refused in one line."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    common = ["--accuracy-table", data / "nb201_slice_accuracy.csv", "--latency-table",
              data / "nb201_slice_latency_ms.csv", "--columns", "gold_6226,pixel2,titanx_1", "--seeds", "0,1",
              "--budgets", "6,8", "--samplers", "random,tpe"]
    outputs = []
    for fold in ("0", "1"):
        result = run_script("bench_search.py", *common, "--folds", "2", "--held-out-fold", fold, "--split",
                            "held-out", "--markdown")
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / f"fold{fold}.json")
        outputs[-1].write_text(result.stdout)  # the JSON, then the markdown table, as a user redirects it
    everything = run_script("bench_search.py", *common, "--baseline", "random")
    merged = run_script("bench_search.py", "--merge", *outputs, "--baseline", "random", "--markdown")
    assert everything.returncode == 0 and merged.returncode == 0, merged.stderr
    whole, report = json.loads(everything.stdout), json.JSONDecoder().raw_decode(merged.stdout)[0]
    assert sorted(report["columns"]) == sorted(["gold_6226", "pixel2", "titanx_1"])
    assert report["summary"]["held_out"] == whole["summary"]["all"]
    assert report["paired"]["held_out"] == whole["paired"]["all"]
    assert "| tpe |" in merged.stdout
    refused = run_script("bench_search.py", "--merge", outputs[0], outputs[0])
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "is in an earlier file too" in refused.stderr


def test_the_predictor_bench_predicts_only_the_fold_asked_for(run_script, tmp_path):
    from pathlib import Path

    if not (Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_latency_ms.csv").is_file():
        pytest.skip("../shared/benchmarks is missing: the predictor bench reads the public tables")
    result = run_script("bench_predictors.py", "--spaces", "nb201", "--folds", "3", "--held-out-fold", "2",
                        "--sizes", "20", "--seeds", "1", "--prior-size", "0", "--output", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "bench_predictors.json").read_text())
    folds = report["sources"]["folds"]
    predicted = {f"{run['group']}/{run['column']}" for run in report["runs"]}
    assert predicted == {name for name in folds["held_out"] if name.startswith("nb201/")}
    assert not predicted & set(folds["training"])
    assert report["summary"]["20"]["worst_column_within_10pct"]["column"] in predicted
    # each run records the held-out coverage of its 90% interval (calibrated on its 20 training rows)
    assert all(0 <= run["ours_coverage"] <= 1 and run["ours_interval_width"] > 0 for run in report["runs"])
    assert all("ours_coverage" in values for values in report["summary"]["20"]["per_column"].values())


def test_new_device_columns_are_held_out_only_and_scored_against_the_front_of_their_sampled_cells(run_script,
                                                                                                  tmp_path):
    import csv
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    with open(data / "nb201_slice_latency_ms.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:60]  # a sampled table: 60 of the slice's 300 cells
    new = tmp_path / "new_devices.csv"
    with open(new, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_idx", "arch_str", "ort_new"])
        writer.writerows([row["arch_idx"], row["arch_str"], row["gold_6226"]] for row in rows)
    common = ("--accuracy-table", data / "nb201_slice_accuracy.csv", "--latency-table",
              data / "nb201_slice_latency_ms.csv", "--columns", "gold_6226,pixel2,titanx_1,ort_new", "--seeds", "0",
              "--budgets", "8", "--samplers", "random", "--new-devices", new)
    refused = run_script("bench_search.py", *common)
    assert refused.returncode == 2 and "--new-devices needs --folds" in refused.stderr
    for fold in (0, 1):
        result = run_script("bench_search.py", *common, "--folds", "2", "--held-out-fold", fold)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert "ort_new" in report["splits"]["held_out"] and "ort_new" not in report["splits"]["training"]
    (run,) = [r for r in report["runs"] if r["column"] == "ort_new"]
    assert run["table_networks"] == 60  # only the sampled cells: the front is theirs
    public = [r for r in report["runs"] if r["column"] == "gold_6226"][0]
    assert public["table_networks"] == 300


def test_the_predictor_bench_predicts_new_devices_only_when_held_out_and_reports_each_columns_ceiling(run_script,
                                                                                                    tmp_path):
    import csv
    from pathlib import Path

    if not (Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_latency_ms.csv").is_file():
        pytest.skip("../shared/benchmarks is missing: the predictor bench reads the public tables")
    data = Path(__file__).resolve().parents[1] / "data"
    with open(data / "nb201_slice_latency_ms.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:80]
    new = tmp_path / "new_devices.csv"
    with open(new, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_idx", "arch_str", "ort_new"])
        writer.writerows([row["arch_idx"], row["arch_str"], row["pixel2"]] for row in rows)
    common = ("--spaces", "nb201", "--columns", "ort_new", "--new-devices", new, "--sizes", "20", "--seeds", "1",
              "--prior-size", "0", "--quiet")
    refused = run_script("bench_predictors.py", *common, "--output", tmp_path / "refused")
    assert refused.returncode == 2 and "--new-devices needs --folds" in refused.stderr
    training = run_script("bench_predictors.py", *common, "--folds", "3", "--split", "training",
                          "--output", tmp_path / "training")
    assert training.returncode == 0, training.stderr
    assert json.loads((tmp_path / "training" / "bench_predictors.json").read_text())["runs"] == []
    held_out = run_script("bench_predictors.py", *common, "--folds", "3", "--ceiling", "--output", tmp_path / "held")
    assert held_out.returncode == 0, held_out.stderr
    report = json.loads((tmp_path / "held" / "bench_predictors.json").read_text())
    assert {f"{run['group']}/{run['column']}" for run in report["runs"]} == {"new_devices/ort_new"}
    ceiling = report["ceilings"]["new_devices/ort_new"]
    assert ceiling["train_size"] == 64 and 0 < ceiling["within_10pct"] <= 1
    column = report["summary"]["20"]["per_column"]["new_devices/ort_new"]
    assert column["share_of_ceiling"] == pytest.approx(column["ours_within_10pct"] / ceiling["within_10pct"])
    assert "Share of each column's ceiling" in (tmp_path / "held" / "bench_predictors.md").read_text()
