"""The predictor contract, run over every registered predictor (`PREDICTORS.names()` at collection time, so
a newly registered predictor is tested without anyone listing it): `fit` returns the predictor and counts
its rows, `predict` refuses before fitting and gives finite positive float64 latencies after, the fit is
good on physically shaped latencies, scikit-learn's clone / get_params / set_params work, a saved
predictor loads and predicts identically, equal networks predict equally, bad training data is
refused in one line, and its conformal intervals (predictors.intervals) hold the prediction and widen
with coverage.

`check_predictor(name, folder)` runs every check on one registered predictor; tests/contracts/
test_registry.py calls it on a throwaway predictor registered for the test. The predictor tests that are
not about every predictor (the encoder, the metrics, saved files, gbdt's trees) stay in
tests/predictors/test_predictors.py, which keeps its own copy of the synthetic data below.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from predictors import (
    IntervalPredictor,
    PredictorError,
    create_predictor,
    load_predictor,
    predictor_names,
    regression_quality,
    save_predictor,
)
from predictors.intervals import cross_validated_calibration, with_intervals
from search_spaces import create_space

TRAIN_ROWS = 45  # of the 60 measured configs; the other 15 are held out


# ---------------------------------------------------------------------------------------------- data
def physical_latency(space, config):
    """Affine in MACs plus per-layer and per-head overheads, as ONNX Runtime on a CPU behaves (ms)."""
    costs = space.cost_features(config)
    return 0.05 + 2.5e-9 * costs["macs"] + 0.012 * costs["num_blocks"] + 0.004 * costs["total_heads"]


def measured_configs(space):
    """60 distinct configs of `space` with physical latencies and 2% multiplicative noise (seeded)."""
    rng = np.random.default_rng(7)
    configs, seen = [], set()
    while len(configs) < 60:
        config = space.sample(rng)
        if space.config_id(config) not in seen:
            seen.add(space.config_id(config))
            configs.append(config)
    latency = np.array([physical_latency(space, c) for c in configs]) * np.exp(rng.normal(0, 0.02, len(configs)))
    return configs, latency


def fit_predictor(name, space, measured):
    """(name, predictor `name` fitted on the first TRAIN_ROWS configs); fit must return the predictor itself."""
    configs, latency = measured
    predictor = create_predictor(name, space=space)
    assert predictor.fit(configs[:TRAIN_ROWS], latency[:TRAIN_ROWS]) is predictor
    return name, predictor


@pytest.fixture(scope="module")
def space():
    return create_space("vit")


@pytest.fixture(scope="module")
def measured(space):
    return measured_configs(space)


@pytest.fixture(scope="module", params=predictor_names())
def fitted(request, space, measured):
    return fit_predictor(request.param, space, measured)


# ---------------------------------------------------------------------------------------------- contract
def test_fit_returns_self_and_counts_rows(fitted):
    _, predictor = fitted  # fit_predictor checked that fit returned the predictor itself
    assert predictor.n_train_ == TRAIN_ROWS


@pytest.mark.parametrize("name", predictor_names())
def test_predict_before_fit_raises_not_fitted(name, space, measured):
    with pytest.raises(NotFittedError):
        create_predictor(name, space=space).predict(measured[0][:3])


def test_predict_shape_and_values(fitted, measured):
    _, predictor = fitted
    prediction = predictor.predict(measured[0][TRAIN_ROWS:])
    assert prediction.shape == (15,) and prediction.dtype == np.float64
    assert np.all(np.isfinite(prediction)) and np.all(prediction > 0)
    assert predictor.predict([]).shape == (0,)


def test_quality_on_physical_data(fitted, measured):
    _, predictor = fitted
    configs, latency = measured
    quality = regression_quality(latency[TRAIN_ROWS:], predictor.predict(configs[TRAIN_ROWS:]))
    assert quality["kendall_tau"] > 0.85 and quality["within_10pct"] > 0.85, quality


def test_clone_of_a_predictor_on_a_space_name_refits_identically(fitted, measured):
    """clone() gives an unfitted copy with equal parameters; with the space given by name it fits and
    predicts exactly as the predictor given the space object."""
    name, predictor = fitted
    copy = clone(predictor).set_params(space="vit")
    assert copy.get_params().keys() == predictor.get_params().keys()
    assert not hasattr(copy, "n_train_")
    configs, latency = measured
    refitted = copy.fit(configs[:TRAIN_ROWS], latency[:TRAIN_ROWS])
    np.testing.assert_allclose(refitted.predict(configs[TRAIN_ROWS:]), predictor.predict(configs[TRAIN_ROWS:]),
                               rtol=1e-9)


def test_set_params_round_trips(fitted):
    name, predictor = fitted
    assert {"space", "priors"} <= set(predictor.get_params())  # every predictor takes a space and priors
    copy = create_predictor(name, space="vit").set_params(random_state=3) if "random_state" in \
        predictor.get_params() else create_predictor(name, space="vit").set_params(alpha=0.5)
    assert copy.get_params().get("random_state", copy.get_params().get("alpha")) in (3, 0.5)


def test_save_load_gives_identical_predictions(fitted, measured, tmp_path):
    name, predictor = fitted
    path = save_predictor(predictor, tmp_path / "nested" / "predictor.joblib", {"profile": "x86-cpu-ort"})
    loaded, metadata = load_predictor(path)
    np.testing.assert_array_equal(loaded.predict(measured[0]), predictor.predict(measured[0]))
    assert metadata["profile"] == "x86-cpu-ort" and metadata["predictor"] == name
    assert set(metadata["versions"]) == {"format", "python", "numpy", "scipy", "scikit-learn", "hwnas"}
    assert metadata["n_train"] == TRAIN_ROWS and metadata["saved_at"]
    assert metadata["space"] == {"name": "vit", "arguments": create_space("vit").arguments}
    assert create_space(metadata["space"]["name"], **metadata["space"]["arguments"]).key == create_space("vit").key


def test_equal_networks_predict_equally(fitted, measured):
    _, predictor = fitted
    config = dict(measured[0][0], depth=1)
    other = dict(config, **{"block3.num_heads": 4})  # block 3 is inactive at depth 1
    assert predictor.predict([config])[0] == predictor.predict([other])[0]


def test_intervals_hold_the_prediction_and_widen_with_coverage(fitted, measured, tmp_path):
    """Every predictor gets intervals without implementing them (predictors.intervals): calibrated by
    cross-validation on its training rows, ordered low <= prediction <= high, nested and wider at higher
    coverage, and the same after the predictor file is saved and loaded."""
    name, predictor = fitted
    configs, latency = measured
    calibration, _ = cross_validated_calibration(name, configs[:TRAIN_ROWS], latency[:TRAIN_ROWS], 2, 0,
                                                 space=predictor.space)
    assert calibration.count == TRAIN_ROWS and calibration.folds == 2  # two folds: auto cross-validates inside each
    with_interval = IntervalPredictor(predictor, calibration)
    held_out = configs[TRAIN_ROWS:]
    predicted = predictor.predict(held_out)
    bounds = {coverage: with_interval.predict_interval(held_out, coverage) for coverage in (0.5, 0.8, 0.95)}
    for low, high in bounds.values():
        assert np.all(low <= predicted) and np.all(predicted <= high) and np.all(low > 0) and np.all(np.isfinite(high))
    assert np.all(bounds[0.95][0] <= bounds[0.8][0]) and np.all(bounds[0.8][0] <= bounds[0.5][0])
    assert np.all(bounds[0.95][1] >= bounds[0.8][1]) and np.all(bounds[0.8][1] >= bounds[0.5][1])
    assert np.all(bounds[0.95][1] - bounds[0.95][0] > bounds[0.5][1] - bounds[0.5][0])
    path = save_predictor(predictor, tmp_path / "with_interval.joblib", {"interval": calibration.to_json()})
    loaded = with_intervals(*load_predictor(path), str(path))
    np.testing.assert_array_equal(loaded.predict_interval(held_out, 0.8), bounds[0.8])


@pytest.mark.parametrize("name", predictor_names())
def test_bad_training_data_is_refused_in_one_line(name, space, measured):
    configs, latency = measured
    predictor = create_predictor(name, space=space)
    with pytest.raises(PredictorError, match="3 configs but 2 targets"):
        predictor.fit(configs[:3], latency[:2])
    with pytest.raises(PredictorError, match="finite and positive"):
        predictor.fit(configs[:3], [1.0, -1.0, 2.0])
    with pytest.raises(PredictorError, match="needs a search space"):
        create_predictor(name).fit(configs[:3], latency[:3])


# ---------------------------------------------------------------------------------------------- one predictor
def check_predictor(name: str, folder: Path) -> None:
    """The whole contract on the registered predictor `name`, without pytest's fixtures (`folder`: where the
    saved predictor goes)."""
    vit = create_space("vit")
    data = measured_configs(vit)
    test_predict_before_fit_raises_not_fitted(name, vit, data)
    test_bad_training_data_is_refused_in_one_line(name, vit, data)
    fitted_predictor = fit_predictor(name, vit, data)
    test_fit_returns_self_and_counts_rows(fitted_predictor)
    test_predict_shape_and_values(fitted_predictor, data)
    test_quality_on_physical_data(fitted_predictor, data)
    test_clone_of_a_predictor_on_a_space_name_refits_identically(fitted_predictor, data)
    test_set_params_round_trips(fitted_predictor)
    test_save_load_gives_identical_predictions(fitted_predictor, data, folder)
    test_equal_networks_predict_equally(fitted_predictor, data)
    test_intervals_hold_the_prediction_and_widen_with_coverage(fitted_predictor, data, folder)
