"""Prediction intervals (predictors.intervals): the conformal quantile, coverage on a regression with known
noise, the calibration saved in a predictor file, and `hwnas predictor predict --interval`.

How far the measured coverage may honestly stray from nominal c: the coverage of a split-conformal
interval given its n calibration residuals is Beta(k, n + 1 - k) with k = ceil((n + 1)c), whose mean is
in [c, c + 1/(n + 1)] and whose standard deviation is about sqrt(c(1 - c)/n); counting it on m test rows
adds sqrt(c(1 - c)/m). The sizes below make 2 points at least 3.8 of those standard deviations, so the
asserted tolerance is not a lucky seed (the seeds only make the run repeatable).
"""

import csv
import json
import math

import numpy as np
import pytest

from predictors import PredictorError, create_predictor, load_predictor, save_predictor
from predictors.artifact import read_predictor_metadata
from predictors.intervals import (
    MAX_STORED,
    Calibration,
    IntervalPredictor,
    check_coverage,
    conformal_rank,
    cross_validated_calibration,
    interval_quality,
    with_intervals,
)
from search_spaces import create_space

NOISE = 0.05  # the synthetic latencies' log-normal noise (standard deviation of log latency)


def standard_deviation_of_coverage(coverage, calibration_rows, test_rows):
    return math.sqrt(coverage * (1 - coverage) * (1 / calibration_rows + 1 / test_rows))


def test_the_finite_sample_quantile_is_the_ceil_n_plus_one_c_th_residual():
    calibration = Calibration.from_residuals(np.arange(1.0, 10.0))  # 9 residuals: 1..9
    assert conformal_rank(9, 0.9) == 9  # (9 + 1) * 0.9 is 9.000000000000002 in floating point
    assert calibration.half_width(0.9) == 9.0 and calibration.half_width(0.5) == 5.0
    assert calibration.half_width(0.91) == math.inf  # ceil(9.1) = 10 > 9 rows: no finite interval backs it
    assert Calibration.from_residuals([-0.3, 0.1]).residuals == (0.1, 0.3)  # absolute values, sorted


def test_conformal_coverage_is_within_two_points_of_nominal_with_known_noise():
    """The quantile alone, with a perfect point prediction: residuals are the noise itself. 30,000
    calibration residuals (more than MAX_STORED: the subsampled order statistics are used) and 100,000
    test rows: 2 points are >= 5 standard deviations at every coverage tested."""
    rng = np.random.default_rng(20261207)
    calibration = Calibration.from_residuals(rng.normal(0, NOISE, 30_000))
    assert len(calibration.residuals) == MAX_STORED and calibration.count == 30_000
    test = rng.normal(0, NOISE, 100_000)
    for coverage in (0.5, 0.8, 0.9, 0.95):
        assert 0.02 >= 5 * standard_deviation_of_coverage(coverage, 30_000, 100_000)
        covered = np.mean(np.abs(test) <= calibration.half_width(coverage))
        assert abs(covered - coverage) <= 0.02, (coverage, covered)
    normal_quantile = 1.6448536  # the 90% two-sided interval of N(0, NOISE) is ±1.645 NOISE
    assert calibration.half_width(0.9) == pytest.approx(normal_quantile * NOISE, rel=0.03)


def physical_latency(space, config):
    costs = space.cost_features(config)
    return 0.05 + 2.5e-9 * costs["macs"] + 0.012 * costs["num_blocks"] + 0.004 * costs["total_heads"]


def noisy_vits(rows, seed):
    space = create_space("vit")
    rng = np.random.default_rng(seed)
    configs = [space.sample(rng) for _ in range(rows)]
    latency = np.array([physical_latency(space, c) for c in configs]) * np.exp(rng.normal(0, NOISE, rows))
    return space, configs, latency


def test_cross_validated_intervals_of_a_fitted_predictor_cover_held_out_rows_as_promised():
    """The whole path: `ridge` (which can learn this affine latency) calibrated by 5-fold CV on 4,000
    rows, scored on 20,000 others: 2 points are >= 3.8 standard deviations at 90% and 95%."""
    space, configs, latency = noisy_vits(24_000, seed=3)
    train, test = slice(0, 4_000), slice(4_000, None)
    calibration, predicted = cross_validated_calibration("ridge", configs[train], latency[train], 5, 0, space=space)
    assert calibration.count == 4_000 and calibration.folds == 5 and predicted.shape == (4_000,)
    predictor = IntervalPredictor(create_predictor("ridge", space=space).fit(configs[train], latency[train]),
                                  calibration)
    quality = interval_quality(predictor, configs[test], latency[test], coverages=(0.9, 0.95))
    for coverage in (0.9, 0.95):
        assert 0.02 >= 3.8 * standard_deviation_of_coverage(coverage, 4_000, 20_000)
        assert abs(quality[f"interval_coverage_{round(coverage * 100)}"] - coverage) <= 0.02, quality
    # The width is the noise's: exp(2 * 1.645 * NOISE) - exp(-...) relative to the prediction, about 0.165.
    assert quality["interval_width_90"] == pytest.approx(2 * math.sinh(1.6448536 * NOISE), rel=0.1)


def test_bad_coverages_are_refused_in_one_line():
    for bad in (0, 1, 1.5, -0.1, float("nan"), "ninety", None):
        with pytest.raises(PredictorError, match=r"coverage must be a number strictly between 0 and 1"):
            check_coverage(bad)
    assert check_coverage("0.9") == 0.9


def test_the_interval_survives_saving_and_loading_the_predictor_file(tmp_path):
    space, configs, latency = noisy_vits(60, seed=5)
    calibration, _ = cross_validated_calibration("ridge", configs, latency, 5, 0, space=space)
    fitted = create_predictor("ridge", space=space).fit(configs, latency)
    save_predictor(fitted, tmp_path / "p.joblib", metadata={"interval": calibration.to_json()})
    loaded, metadata = load_predictor(tmp_path / "p.joblib")
    assert Calibration.from_json(read_predictor_metadata(tmp_path / "p.joblib")["interval"], "x") == calibration
    before = IntervalPredictor(fitted, calibration).predict_interval(configs[:10], 0.8)
    after = with_intervals(loaded, metadata, "p.joblib").predict_interval(configs[:10], 0.8)
    np.testing.assert_array_equal(before, after)
    save_predictor(fitted, tmp_path / "old.joblib")  # as a file written before intervals existed
    with pytest.raises(PredictorError, match="holds no interval calibration"):
        with_intervals(*load_predictor(tmp_path / "old.joblib"), "old.joblib")


def test_a_tampered_calibration_is_refused_naming_the_field():
    good = Calibration.from_residuals([0.1, 0.2, 0.3], folds=3).to_json()
    for change, field in (({"residuals": [0.3, 0.1, 0.2]}, "increasing order"),
                          ({"residuals": [0.1, float("nan"), 0.3]}, "finite"),
                          ({"residuals": list(range(MAX_STORED + 1))}, "'residuals' must be a list"),
                          ({"count": 10**12}, "'count'"), ({"count": True}, "'count'"),
                          ({"scaled": "yes"}, "'scaled'"), ({"method": "pickle"}, "method")):
        with pytest.raises(PredictorError, match=field):
            Calibration.from_json({**good, **change}, "p.joblib")


def test_scaled_intervals_follow_the_ensembles_spread():
    space, configs, latency = noisy_vits(80, seed=9)
    members = {"members": ("ridge",), "n_members": 3}
    calibration, _ = cross_validated_calibration("ensemble", configs, latency, 4, 0, scaled=True, space=space,
                                                 **members)
    ensemble = create_predictor("ensemble", space=space, **members).fit(configs, latency)
    low, high = IntervalPredictor(ensemble, calibration).predict_interval(configs[:20], 0.8)
    half_width = np.log(high / low) / 2
    np.testing.assert_allclose(half_width, calibration.half_width(0.8) * ensemble.interval_scale(configs[:20]))
    with pytest.raises(PredictorError, match="interval_scale"):
        IntervalPredictor(create_predictor("ridge", space=space).fit(configs, latency), calibration)


def run_cli(arguments, capsys):
    from nas.cli import main

    code = main(["predictor", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_with_interval_writes_low_and_high_and_refuses_bad_coverages(tmp_path, capsys):
    space = create_space("nb201")
    archs = [space.to_arch_str(config) for config in space.sample_distinct(60, 11)]
    rng = np.random.default_rng(1)
    cost = [space.cost_features(space.from_arch_str(arch))["computed_macs"] for arch in archs]
    lines = ["arch_str,cpu"] + [f"{arch},{(1 + macs / 1e8) * math.exp(rng.normal(0, NOISE)):.5f}"
                                for arch, macs in zip(archs, cost)]
    table = tmp_path / "table.csv"
    table.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(["fit", "--space", "nb201", "--table", str(table), "--target", "cpu", "--model", "ridge",
                              "--train-size", "40", "--out", str(tmp_path / "p.joblib")], capsys)
    assert code == 0, err
    assert "on the 20 held-out rows: 80% interval covers" in out and "95% interval covers" in out
    metadata = read_predictor_metadata(tmp_path / "p.joblib")
    assert 0 <= metadata["interval_coverage_80"] <= 1 and metadata["interval"]["count"] == 40
    out_file = tmp_path / "pred.csv"
    code, out, err = run_cli(["predict", str(tmp_path / "p.joblib"), "--table", str(table), "--out", str(out_file),
                              "--interval", "0.9"], capsys)
    assert code == 0 and "with 90% intervals" in out, err
    with open(out_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["arch_str", "cpu", "predicted", "low", "high"] and len(rows) == 60
    assert all(float(r["low"]) <= float(r["predicted"]) <= float(r["high"]) for r in rows)
    for bad in ("1", "0", "1.5", "-0.2", "nan", "ninety"):
        code, out, err = run_cli(["predict", str(tmp_path / "p.joblib"), "--table", str(table), "--out",
                                  str(tmp_path / "bad.csv"), "--interval", bad], capsys)
        assert code == 2 and err.count("\n") == 1 and "--interval must be a number strictly between 0 and 1" in err
        assert not (tmp_path / "bad.csv").exists() and not out


def test_evaluate_reports_held_out_interval_coverage(tmp_path, capsys):
    space = create_space("nb201")
    archs = [space.to_arch_str(config) for config in space.sample_distinct(60, 12)]
    table = tmp_path / "table.csv"
    table.write_text("arch_str,cpu\n" + "".join(
        f"{arch},{1 + space.cost_features(space.from_arch_str(arch))['computed_macs'] / 1e8:.5f}\n" for arch in archs))
    code, out, err = run_cli(["evaluate", "--space", "nb201", "--table", str(table), "--target", "cpu",
                              "--model", "ridge", "--train-size", "30", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert {"interval_coverage_80", "interval_coverage_95", "interval_width_80", "interval_width_95"} <= set(report)
    assert "interval" not in report  # the calibration itself belongs in a saved file
    assert report["interval_width_95"] >= report["interval_width_80"] >= 0

