"""Structure-aware encoders, priors, and the additive, ensemble and auto predictors."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from predictors import (
    LayerKindEncoder,
    LayerSlotEncoder,
    NetworkEncoder,
    PredictorError,
    PredictorPrior,
    RelativeErrorRidge,
    TablePrior,
    create_predictor,
    regression_quality,
)
from predictors.priors import MissingPriorError, table_prior_for
from search_spaces import Choice, SearchSpace, create_space


@pytest.fixture(scope="module")
def vit():
    return create_space("vit", precisions=["fp32", "int8"])


def sample(space, count, seed):
    return space.sample_distinct(count, np.random.default_rng(seed))


# ---------------------------------------------------------------------------------------------- layer costs
@pytest.mark.parametrize("name, arguments",
                         [("nb201", {}), ("ofa_mbv3", {}), ("vit", {"precisions": ["fp32", "int8"]}),
                          ("vit", {"precisions": ["fp32", "int8"], "attention_choices": ["softmax", "linear"]})])
def test_layer_costs_add_up_to_the_spaces_totals(name, arguments):
    """Every space that describes its layers: fixed slots, kinds from layer_kinds(), and the MACs of
    the layers in the network (active, or outside the cells) add up to cost_features' MACs."""
    space = create_space(name, **arguments)
    slots = [layer.slot for layer in space.layer_costs(space.largest())]
    for config in sample(space, 12, 8) + [space.smallest()]:
        layers = space.layer_costs(config)
        assert [layer.slot for layer in layers] == slots
        assert {layer.kind for layer in layers} <= set(space.layer_kinds())
        in_network = sum(layer.macs for layer in layers if layer.active or not layer.slot.startswith("stage"))
        assert in_network == pytest.approx(space.cost_features(config)["macs"])
        # inactive slots cost nothing, except NAS-Bench-201's dead edges, which an eager runtime still runs
        absent = [layer for layer in layers if not layer.active and (layer.kind == "none" or name != "nb201")]
        assert all(layer.macs == 0 and layer.activation_bytes == 0 for layer in absent)


# ---------------------------------------------------------------------------------------------- encoders
def test_ofa_slot_encoder_counts_only_active_blocks_at_the_resolution():
    space = create_space("ofa_mbv3")
    config = dict(space.smallest(), **{"resolution": 160, "stage1.depth": 3, "block5.kernel_size": 7})
    encoder = LayerSlotEncoder(space).fit([config])
    names = list(encoder.get_feature_names_out())
    assert len(names) == 3 * (2 + 20 + 1) and "block5.macs" in names and "block7.activation_bytes" in names
    row = dict(zip(names, encoder.transform([config])[0]))
    assert row["block6.macs"] > 0 and row["block7.macs"] == 0 == row["block7.activation_bytes"]  # stage 1: 3 of 4
    assert sum(value for name, value in row.items() if name.endswith(".macs")) == space.cost_features(config)["macs"]
    bigger = dict(config, resolution=224)
    assert encoder.transform([bigger])[0][names.index("block5.macs")] > row["block5.macs"]
    wider = dict(config, **{"block5.expand_ratio": 6})
    assert encoder.transform([wider])[0][names.index("block5.macs")] > row["block5.macs"]


def test_vit_kind_encoder_gives_macs_by_precision(vit):
    config = dict(vit.smallest(), depth=2, **{"block0.precision": "int8", "block1.precision": "fp32"})
    encoder = LayerKindEncoder(vit).fit([config])
    row = dict(zip(encoder.get_feature_names_out(), encoder.transform([config])[0]))
    costs = vit.cost_features(config)
    assert row["qkv.int8.count"] == row["qkv.fp32.count"] == 1 and row["attention.count"] == 2
    int8 = row["qkv.int8.macs"] + row["proj.int8.macs"] + row["mlp.int8.macs"]
    assert int8 == costs["int8_linear_macs"]
    assert sum(v for k, v in row.items() if k.endswith(".macs")) == pytest.approx(costs["macs"])
    # an int8 layer moves its input at one byte per element, an fp32 one at four
    assert row["qkv.int8.activation_bytes"] < row["qkv.fp32.activation_bytes"]


def test_nb201_kinds_separate_live_and_dead_edges():
    space = create_space("nb201")
    # node 1 is fed from the input but feeds nothing that reaches the output: its conv is dead
    config = space.from_arch_str("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    assert (0, 1) not in space.live_edges(config)
    encoder = LayerKindEncoder(space).fit([config])
    row = dict(zip(encoder.get_feature_names_out(), encoder.transform([config])[0]))
    assert row["nor_conv_3x3.stage0.dead.count"] == 1 and row["nor_conv_3x3.stage0.count"] == 0
    assert row["nor_conv_1x1.stage2.count"] == 1
    slots = LayerSlotEncoder(space).fit([config])
    slot_row = dict(zip(slots.get_feature_names_out(), slots.transform([config])[0]))
    assert slot_row["stage0.node1.from_input.macs"] == 0 < slot_row["stage0.node3.from_input.macs"]
    assert space.cost_features(config)["activation_elements"] > 0


def test_network_encoder_joins_parts_and_priors(vit):
    configs = sample(vit, 6, 0)
    prior = table_prior_for(configs, np.arange(1.0, 13.0).reshape(6, 2), ["cpu_a", "cpu_b"], vit)
    encoder = NetworkEncoder(vit, priors=prior).fit(configs)
    names = list(encoder.get_feature_names_out())
    assert len(names) == len(set(names)) and names[-2:] == ["prior:cpu_a", "prior:cpu_b"]
    assert "depth" in names and "macs" in names and "block0.qkv.macs" in names
    matrix = encoder.transform(configs[::-1])
    assert matrix.shape == (6, len(names)) and list(matrix[:, -1]) == [12.0, 10.0, 8.0, 6.0, 4.0, 2.0]
    assert encoder.transform([]).shape == (0, len(names))
    assert not hasattr(clone(encoder), "parts_")


class FlatSpace(SearchSpace):
    """A space with totals only (no per-layer costs), as a space added later might be."""

    name = "test-flat"

    def __init__(self):
        super().__init__()
        self.choices = {"width": Choice("width", (8, 16, 32, 64)), "depth": Choice("depth", (1, 2, 3))}

    def cost_features(self, config):
        return {"macs": 100.0 * config["width"] * config["depth"], "num_blocks": float(config["depth"])}


def test_spaces_without_layer_costs_get_totals_only_and_a_clear_error():
    space = FlatSpace()
    configs = [{"width": w, "depth": d} for w in (8, 16, 32, 64) for d in (1, 2, 3)]
    assert list(NetworkEncoder(space).fit(configs).get_feature_names_out()) == ["width", "depth", "macs", "num_blocks",
                                                                                "log1p_macs"]
    with pytest.raises(PredictorError, match="does not describe its networks layer by layer"):
        LayerKindEncoder(space).fit(configs)
    with pytest.raises(NotFittedError):
        LayerSlotEncoder(create_space("nb201")).transform([])


# ---------------------------------------------------------------------------------------------- priors
def test_table_prior_looks_up_by_network_and_names_a_missing_one(vit):
    configs = sample(vit, 5, 1)
    prior = table_prior_for(configs[:4], np.array([[1.0], [2.0], [3.0], [4.0]]), ["other"], vit)
    assert list(prior.transform([configs[2], configs[0]])[:, 0]) == [3.0, 1.0]
    with pytest.raises(MissingPriorError, match=r"configs\[1\]\) is not in prior table") as error:
        prior.transform([configs[0], configs[4]])
    assert error.value.position == 1
    with pytest.raises(PredictorError, match="finite and positive"):
        TablePrior(space=vit, config_ids=["a"], values=[[-1.0]], columns=["x"]).fit()


def test_predictor_prior_keeps_its_fitted_predictors_through_clone(vit):
    configs = sample(vit, 30, 2)
    latency = np.array([vit.cost_features(c)["macs"] / 1e6 + 0.1 for c in configs])
    other = create_predictor("ridge", space=vit).fit(configs, latency)
    prior = PredictorPrior([other], ["other"])
    predictor = create_predictor("ridge", space=vit, priors=prior)
    clone(predictor).fit(configs, 2 * latency)
    np.testing.assert_allclose(prior.fit().transform(configs[:3])[:, 0], other.predict(configs[:3]))


# ---------------------------------------------------------------------------------------------- models
def lookup_table_latency(space, config):
    """A device whose layers each cost a fixed amount plus a per-MAC cost that depends on precision."""
    per_layer = {"stem": 0.02, "attention": 0.004, "head": 0.001}
    per_mac = {"int8": 0.6e-9, "fp32": 1.5e-9}
    total = 0.01
    for layer in space.layer_costs(config):
        if layer.active:
            precision = layer.kind.split(".")[-1]
            total += per_layer.get(layer.kind, 0.003) + per_mac.get(precision, 1.0e-9) * layer.macs
    return total


def test_additive_model_learns_a_per_layer_table_from_whole_networks(vit):
    configs = sample(vit, 90, 3)
    latency = np.array([lookup_table_latency(vit, c) for c in configs]) * np.exp(
        np.random.default_rng(0).normal(0, 0.01, 90))
    model = create_predictor("additive", space=vit).fit(configs[:60], latency[:60])
    quality = regression_quality(latency[60:], model.predict(configs[60:]))
    assert quality["within_5pct"] > 0.9 and quality["kendall_tau"] > 0.9, quality
    assert all(value >= 0 for entry in model.table_.values() for value in entry.values())
    assert model.table_["mlp.fp32"]["per_mac_ms"] > model.table_["mlp.int8"]["per_mac_ms"]  # int8 runs faster
    parts = model.layer_latencies(configs[60])
    assert sum(ms for _, _, ms in parts) + model.overhead_ms_ == pytest.approx(model.predict([configs[60]])[0])


def test_ensemble_uncertainty_is_positive_and_larger_away_from_the_data(vit):
    shallow = [c for c in sample(vit, 120, 4) if c["depth"] <= 2][:40]
    deep = [c for c in sample(vit, 120, 5) if c["depth"] == 4][:10]
    latency = lambda cs: np.array([lookup_table_latency(vit, c) for c in cs])  # noqa: E731
    ensemble = create_predictor("ensemble", space=vit, members=("gbdt", "ridge"), n_members=4)
    ensemble.fit(shallow[:30], latency(shallow[:30]))
    mean, std = ensemble.predict(shallow[30:] + deep, return_std=True)
    assert mean.shape == std.shape == (20,) and np.all(std > 0)
    np.testing.assert_array_equal(mean, ensemble.predict(shallow[30:] + deep))
    spread = ensemble.member_std(shallow[30:] + deep)
    assert spread[10:].mean() > spread[:10].mean()  # the members disagree most where nothing was measured
    with pytest.raises(PredictorError, match="n_members >= 2"):
        create_predictor("ensemble", space=vit, n_members=1).fit(shallow, latency(shallow))


def test_auto_chooses_by_cross_validation_on_the_training_rows(vit):
    configs = sample(vit, 80, 6)
    base = np.array([lookup_table_latency(vit, c) for c in configs])
    stepped = base * np.where([c["embed_dim"] == 64 for c in configs], 1.4, 1.0)  # not affine in any cost
    auto = create_predictor("auto", space=vit, candidates=("ridge", "gbdt")).fit(configs[:60], stepped[:60])
    assert auto.chosen_ == "gbdt" and set(auto.scores_) == {"ridge", "gbdt"}
    assert auto.scores_["gbdt"]["score"] > auto.scores_["ridge"]["score"]
    np.testing.assert_array_equal(auto.predict(configs[60:]), auto.model_.predict(configs[60:]))
    flat = FlatSpace()
    flat_configs = [{"width": w, "depth": d} for w in (8, 16, 32, 64) for d in (1, 2, 3)]
    flat_latency = np.array([0.1 + c["width"] * c["depth"] / 100 for c in flat_configs])
    chosen = create_predictor("auto", space=flat, candidates=("additive", "ridge")).fit(flat_configs, flat_latency)
    assert chosen.chosen_ == "ridge" and "additive" not in chosen.scores_  # additive needs per-layer costs
    with pytest.raises(PredictorError, match="other than 'auto'"):
        create_predictor("auto", space=vit, candidates=("auto",)).fit(configs[:10], base[:10])


def test_absolute_loss_ignores_slow_outliers_that_pull_squared_loss(vit):
    """A fifth of the measurements taken while something else ran (30% slow): the absolute (MAPE) fit
    stays on the clean ones; the squared fit is pulled up."""
    configs = sample(vit, 100, 7)
    clean = np.array([lookup_table_latency(vit, c) for c in configs])
    measured = clean * np.where(np.arange(100) % 5 == 0, 1.3, 1.0)
    errors = {}
    for loss in ("absolute", "squared"):
        model = create_predictor("ridge", space=vit, loss=loss).fit(configs[:70], measured[:70])
        errors[loss] = np.median(np.abs(model.predict(configs[70:]) / clean[70:] - 1))
    assert errors["absolute"] < 0.02 < errors["squared"], errors


@parametrize_with_checks([RelativeErrorRidge(), RelativeErrorRidge(alpha=(1e-3, 1.0), loss="absolute"),
                          RelativeErrorRidge(positive=True)])
def test_relative_error_ridge_passes_scikit_learns_estimator_checks(estimator, check):
    """The predictors take config dicts, so scikit-learn's checks cannot run on them; the numeric
    stage they share takes arrays and passes every check (its targets are tagged positive only)."""
    check(estimator)
