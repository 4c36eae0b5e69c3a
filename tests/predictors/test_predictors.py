"""Predictors: the registry, gbdt's trees, the encoder, the metrics, saved files. The contract every
registered predictor keeps is tests/contracts/test_predictor_contract.py."""

import math

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from predictors import (
    ConfigEncoder,
    PredictorError,
    create_predictor,
    load_predictor,
    predictor_names,
    regression_quality,
    save_predictor,
)
from search_spaces import Choice, SearchSpace, create_space
from nas.registry import RegistryError


# ---------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def space():
    return create_space("vit")


def physical_latency(space, config):
    """Affine in MACs plus per-layer and per-head overheads, as ONNX Runtime on a CPU behaves (ms)."""
    costs = space.cost_features(config)
    return 0.05 + 2.5e-9 * costs["macs"] + 0.012 * costs["num_blocks"] + 0.004 * costs["total_heads"]


@pytest.fixture(scope="module")
def measured(space):
    """60 distinct configs with physical latencies and 2% multiplicative noise."""
    rng = np.random.default_rng(7)
    configs, seen = [], set()
    while len(configs) < 60:
        config = space.sample(rng)
        if space.config_id(config) not in seen:
            seen.add(space.config_id(config))
            configs.append(config)
    latency = np.array([physical_latency(space, c) for c in configs]) * np.exp(rng.normal(0, 0.02, len(configs)))
    return configs, latency


# ---------------------------------------------------------------------------------------------- registry
def test_registry_names_every_model_the_issue_asks_for():
    assert {"gbdt", "ridge", "mlp", "additive", "ensemble", "auto"} <= set(predictor_names())


def test_unknown_predictor_lists_the_names():
    with pytest.raises(RegistryError, match="unknown predictor 'nope'; known: .*gbdt.*ridge"):
        create_predictor("nope")


def test_unknown_hyper_parameter_names_it():
    with pytest.raises(RegistryError, match="predictor .gbdt.: .*colour"):
        create_predictor("gbdt", colour="red")


# ---------------------------------------------------------------------------------------------- gbdt
def test_gbdt_learns_what_is_not_affine(space):
    """A latency step the analytic costs do not explain (a width the runtime handles badly): the trees
    of `gbdt` take it, the affine `ridge` cannot."""
    rng = np.random.default_rng(1)
    configs = [space.sample(rng) for _ in range(100)]
    latency = np.array([physical_latency(space, c) * (1.35 if c["embed_dim"] == 64 else 1.0) for c in configs])
    latency *= np.exp(rng.normal(0, 0.01, len(configs)))
    quality = {}
    for name in ("ridge", "gbdt"):
        predictor = create_predictor(name, space=space, **({"n_estimators": 150} if name == "gbdt" else {}))
        predictor.fit(configs[:70], latency[:70])
        quality[name] = regression_quality(latency[70:], predictor.predict(configs[70:]))
    assert quality["gbdt"]["within_10pct"] >= 0.85 > quality["ridge"]["within_10pct"], quality
    assert quality["gbdt"]["mape"] < quality["ridge"]["mape"] / 2, quality


def test_gbdt_uses_no_trees_on_pure_noise_residuals(space, measured):
    configs, latency = measured
    predictor = create_predictor("gbdt", space=space).fit(configs, latency)
    assert predictor.n_estimators_ < 20  # cross-validation sees nothing but noise beyond the affine model


# ---------------------------------------------------------------------------------------------- encoder
def test_encoder_feature_names_and_shape(space, measured):
    configs = measured[0][:5]
    encoder = ConfigEncoder(space).fit(configs)
    costs = list(space.cost_features(configs[0]))
    assert encoder.feature_names_ == [*space.choices, *costs, "log1p_macs", "log1p_params"]
    assert list(encoder.get_feature_names_out()) == encoder.feature_names_
    matrix = encoder.transform(configs)
    assert matrix.shape == (5, len(space.choices) + len(costs) + 2) and matrix.dtype == np.float64
    row = dict(zip(encoder.feature_names_, matrix[0]))
    config = space.canonical(configs[0])
    assert row["depth"] == config["depth"] and row["block0.mlp_ratio"] == config["block0.mlp_ratio"]
    assert row["macs"] == space.cost_features(config)["macs"]
    assert row["log1p_params"] == pytest.approx(math.log1p(space.cost_features(config)["params"]))


def test_encoder_canonicalises_and_refuses_bad_input(space):
    encoder = ConfigEncoder(space)
    with pytest.raises(NotFittedError):
        encoder.transform([space.smallest()])
    encoder.fit([space.smallest()])
    spelled_twice = [space.smallest(), dict(space.smallest(), **{"block2.mlp_ratio": 3.0})]
    matrix = encoder.transform(spelled_twice)
    np.testing.assert_array_equal(matrix[0], matrix[1])
    with pytest.raises(PredictorError, match="list of config dicts"):
        encoder.transform(space.smallest())


class PrecisionSpace(SearchSpace):
    """A tiny space with a string choice, as a space with per-layer precisions has."""

    name = "test-precision"

    def __init__(self):
        super().__init__()
        self.choices = {"width": Choice("width", (8, 16)), "precision": Choice("precision", ("fp16", "fp32", "int8"))}

    def cost_features(self, config):
        return {"macs": 100.0 * config["width"], "int8_macs": 100.0 * config["width"] * (config["precision"] == "int8")}


def test_encoder_one_hot_encodes_string_choices():
    encoder = ConfigEncoder(PrecisionSpace()).fit([{"width": 8, "precision": "fp32"}])
    assert encoder.feature_names_ == ["width", "precision=fp16", "precision=fp32", "precision=int8",
                                      "macs", "int8_macs", "log1p_macs"]
    matrix = encoder.transform([{"width": 16, "precision": "int8"}, {"width": 8, "precision": "fp16"}])
    np.testing.assert_array_equal(matrix, [[16, 0, 0, 1, 1600, 1600, math.log1p(1600)],
                                           [8, 1, 0, 0, 800, 0, math.log1p(800)]])


# ---------------------------------------------------------------------------------------------- metrics
def test_metrics_on_hand_computed_values():
    # relative errors 0.04, 0.15, 0.025, 0.0 -> mean 0.05375; the ranking is perfect
    quality = regression_quality([1.0, 2.0, 4.0, 8.0], [1.04, 2.3, 3.9, 8.0])
    assert quality["mape"] == pytest.approx(0.05375)
    assert quality["within_5pct"] == 0.75 and quality["within_10pct"] == 0.75
    assert quality["kendall_tau"] == pytest.approx(1.0) and quality["spearman"] == pytest.approx(1.0)
    assert quality["n"] == 4


def test_metrics_rank_correlations():
    # one discordant pair of six: tau = (5 - 1) / 6; rank differences 0, 1, 1, 0: rho = 1 - 6 * 2 / (4 * 15)
    quality = regression_quality([1, 2, 3, 4], [1, 3, 2, 4])
    assert quality["kendall_tau"] == pytest.approx(4 / 6) and quality["spearman"] == pytest.approx(0.8)
    assert regression_quality([1, 2, 3], [3, 2, 1])["kendall_tau"] == pytest.approx(-1.0)


def test_metrics_boundaries_and_small_samples():
    assert regression_quality([100.0], [105.0])["within_5pct"] == 1.0  # exactly 5% counts as within
    single = regression_quality([2.0], [2.2])
    assert single["n"] == 1 and single["mape"] == pytest.approx(0.1)
    assert math.isnan(single["kendall_tau"]) and math.isnan(single["spearman"])
    empty = regression_quality([], [])
    assert empty["n"] == 0 and all(math.isnan(empty[key]) for key in ("mape", "within_10pct", "kendall_tau"))
    assert math.isnan(regression_quality([1.0, 1.0], [1.0, 2.0])["kendall_tau"])  # constant truth
    with pytest.raises(ValueError, match="same length"):
        regression_quality([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        regression_quality([0.0, 1.0], [1.0, 1.0])


# ---------------------------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def ridge_file(tmp_path_factory, space, measured):
    predictor = create_predictor("ridge", space=space).fit(*measured)
    return save_predictor(predictor, tmp_path_factory.mktemp("saved") / "ridge.joblib", {})


def one_line(error):
    return "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(PredictorError, match="not found") as error:
        load_predictor(tmp_path / "absent.joblib")
    assert one_line(error)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_file(damage, ridge_file, tmp_path):
    path = tmp_path / "bad.joblib"
    data = ridge_file.read_bytes()
    path.write_bytes({"garbage": b"\x00not a pickle at all" * 10, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    with pytest.raises(PredictorError, match="corrupt or not a predictor file") as error:
        load_predictor(path)
    assert one_line(error)


def edited_copy(path, out, change_header=None, estimator=None):
    """A copy of predictor file `path` at `out` with its JSON header changed by `change_header(header)` or its
    estimator replaced (the header's checksum updated to match, as a careful editor would)."""
    import hashlib
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(members["metadata.json"])
    if change_header:
        change_header(header)
    if estimator is not None:
        members["predictor.skops"] = estimator
        header["estimator_sha256"] = hashlib.sha256(estimator).hexdigest()
    members["metadata.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


@pytest.mark.parametrize("content", ["list", "format1", "format2"])
def test_joblib_and_pickle_files_are_refused_unread_with_how_to_refit(content, ridge_file, tmp_path):
    import pickle

    record = {"metadata": {"versions": {"format": 2}}, "space": {"name": "vit", "arguments": {}}}
    record = {"format1": {**record, "predictor": "would be unpickled"},
              "format2": {**record, "format": 2, "predictor_pickle": pickle.dumps("would be unpickled")},
              "list": [1, 2, 3]}[content]
    joblib.dump(record, tmp_path / "old.joblib")
    with pytest.raises(PredictorError, match="old pickle format.*refit it: `hwnas fit --run RUN`") as error:
        load_predictor(tmp_path / "old.joblib")
    assert one_line(error)


def test_other_major_sklearn_version_is_refused(ridge_file, tmp_path):
    def old(header):
        header["metadata"]["versions"]["scikit-learn"] = "0.24.2"

    with pytest.raises(PredictorError, match="saved with scikit-learn 0.24.2.*refit") as error:
        load_predictor(edited_copy(ridge_file, tmp_path / "old.joblib", old))
    assert one_line(error)


def test_newer_format_is_refused(ridge_file, tmp_path):
    def newer(header):
        header["format"] = 99

    with pytest.raises(PredictorError, match="format 99"):
        load_predictor(edited_copy(ridge_file, tmp_path / "new.joblib", newer))


def test_unfitted_predictor_is_not_saved(space, tmp_path):
    with pytest.raises(PredictorError, match="fitted"):
        save_predictor(create_predictor("gbdt", space=space), tmp_path / "p.joblib", {})
    assert not (tmp_path / "p.joblib").exists()


def _broken_skops(ridge_file) -> bytes:
    """The ridge file's skops estimator with one array member replaced by bytes numpy cannot read, as a
    numpy release that changed its array format would leave it."""
    import io
    import zipfile

    with zipfile.ZipFile(ridge_file) as archive:
        estimator = archive.read("predictor.skops")
    with zipfile.ZipFile(io.BytesIO(estimator)) as inner:
        members = {name: inner.read(name) for name in inner.namelist()}
    array = next(name for name in members if name.endswith(".npy"))
    members[array] = b"\x93NUMPY\x09\x00not an array header"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        for name, data in members.items():
            inner.writestr(name, data)
    return buffer.getvalue()


def test_estimator_that_does_not_load_names_the_versions_in_one_line(ridge_file, tmp_path):
    from predictors.artifact import read_predictor_metadata

    def elsewhere(header):
        header["metadata"]["versions"]["numpy"] = "1.26.4"  # saved elsewhere, same scikit-learn major version

    path = edited_copy(ridge_file, tmp_path / "elsewhere.joblib", elsewhere, estimator=_broken_skops(ridge_file))
    with pytest.raises(PredictorError, match=r"cannot be loaded here \(.*saved with numpy 1\.26\.4; "
                                             r"installed: numpy .*refit the predictor") as error:
        load_predictor(path)
    assert one_line(error)
    metadata = read_predictor_metadata(path)  # what to refit is still readable
    assert metadata["predictor"] == "ridge" and metadata["n_train"] == 60 and metadata["space"]["name"] == "vit"


def test_a_kept_encoding_memo_serves_later_blocks_with_equal_predictions(space, measured):
    """The guided sampler keeps its memo between refits: rows encoded in one block are reused in the next,
    and predictions are those of an uncached predictor."""
    from predictors.encoding_cache import cached_encodings

    configs, latency = measured
    plain = create_predictor("gbdt", space=space).fit(configs, latency).predict(configs)
    memo: dict = {}
    calls = []
    original = space.cost_features
    space.cost_features = lambda config: calls.append(1) or original(config)
    try:
        with cached_encodings(memo):
            create_predictor("gbdt", space=space).fit(configs, latency)
        first, calls[:] = len(calls), []
        with cached_encodings(memo):
            cached = create_predictor("gbdt", space=space).fit(configs, latency).predict(configs)
    finally:
        del space.cost_features
    assert first >= len(configs) and len(calls) < 0.1 * first  # the rows came from the memo
    assert np.array_equal(cached, plain)


def test_the_encoding_memo_is_keyed_by_content(space, measured):
    """Configs rebuilt from a study (equal dicts, other objects, keys in another order) find the rows of
    the configs first encoded; a config with an unhashable value is computed, not memoised."""
    from predictors import ConfigEncoder
    from predictors.encoding_cache import cached_encodings, memoised

    configs, _ = measured
    encoder = ConfigEncoder(space).fit(configs)
    memo: dict = {}
    with cached_encodings(memo):
        first = encoder.transform(configs)
    calls = []
    original = space.cost_features
    space.cost_features = lambda config: calls.append(1) or original(config)
    try:
        with cached_encodings(memo):
            rebuilt = encoder.transform([dict(reversed(list(config.items()))) for config in configs])
    finally:
        del space.cost_features
    assert not calls and np.array_equal(first, rebuilt)
    with cached_encodings():
        assert memoised(("kind",), {"widths": [1, 2]}, lambda config: sum(config["widths"])) == 3
