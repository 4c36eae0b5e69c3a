"""The guided sampler's accuracy features (nas.search.guided.surrogates.FeatureCache)."""

import numpy as np

from nas.search.guided.surrogates import FeatureCache, ForestSurrogate
from search_spaces import create_space
from search_spaces.nb201 import NB201Space
from search_spaces.space import SearchSpace

# x + conv3(conv3(x)), wired two ways: a skip from node 1 to the output, or through node 2.
DIRECT = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
THROUGH_NODE_2 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_nb201_rows_are_the_function_features_so_every_wiring_of_a_function_shares_one_row():
    space = create_space("nb201")
    features = FeatureCache(space)
    assert features.names == list(space.function_features(space.smallest()))
    one, two = space.from_arch_str(DIRECT), space.from_arch_str(THROUGH_NODE_2)
    assert space.functional_config(one) != space.functional_config(two)  # not the same live edges
    rows = features.encode([one, two, space.largest()])
    assert rows.shape == (3, features.width)
    assert np.array_equal(rows[0], rows[1])
    assert not np.array_equal(rows[0], rows[2])
    assert features.encode([]).shape == (0, features.width)


def test_an_accuracy_forest_fitted_on_one_wiring_predicts_it_for_every_other():
    space = create_space("nb201")
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(40)] + [space.from_arch_str(DIRECT)]
    forest = ForestSurrogate(FeatureCache(space), trees=8).fit(configs, np.linspace(0.0, 1.0, len(configs)))
    mean, spread = forest.predict([space.from_arch_str(DIRECT), space.from_arch_str(THROUGH_NODE_2)])
    assert mean[0] == mean[1] and spread[0] == spread[1]


class _WithoutFunctionFeatures(NB201Space):
    function_features = SearchSpace.function_features


def test_a_functional_view_without_function_features_adds_its_one_hot_to_the_encoder_features():
    space = _WithoutFunctionFeatures()
    assert not space.has_function_features and space.has_functional_view
    features = FeatureCache(space)
    plain = len(features.encoder.feature_names_)
    assert features.width == plain + 6 * 5  # one-hot of each edge's functional operation
    # the same function (node 1 cut off from the input, so its edges are dead) spelled two ways
    one = space.from_arch_str("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|")
    two = space.from_arch_str("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|")
    rows = features.encode([one, two])
    assert np.array_equal(rows[0, plain:], rows[1, plain:])
    assert not np.array_equal(rows[0, :plain], rows[1, :plain])  # the configs themselves still differ


def test_a_space_without_a_functional_view_gets_the_encoder_features_only():
    space = create_space("vit")
    features = FeatureCache(space)
    assert features.width == len(features.encoder.feature_names_)
    assert features.encode([space.smallest()]).shape == (1, features.width)


def _mixed_vit():
    return create_space("vit", image_size=8, depth_choices=[1, 2], embed_dim_choices=[32, 48],
                        precisions=["fp32", "int8", "int4"])


SENSITIVITY = {"block0.precision": {"int8": 0.01, "int4": 0.3}, "block1.precision": {"int8": 0.0, "int4": 0.05}}


def test_sensitivity_adds_the_summed_sensitivity_of_the_lowered_blocks_as_one_more_column():
    from nas.models.sensitivity import summed_sensitivity

    space = _mixed_vit()
    plain, with_sensitivity = FeatureCache(space), FeatureCache(space, SENSITIVITY)
    assert with_sensitivity.names == plain.names + ["sensitivity.sum"]
    configs = [space.sample(np.random.default_rng(seed)) for seed in range(12)] + [space.largest()]
    rows = with_sensitivity.encode(configs)
    assert rows.shape == (len(configs), plain.width + 1)
    assert np.array_equal(rows[:, :-1], plain.encode(configs))
    assert list(rows[:, -1]) == [summed_sensitivity(space, SENSITIVITY, c) for c in configs]
    assert rows[-1, -1] == 0.0 and rows[:, -1].max() > 0  # the largest network lowers nothing


def test_the_guided_sampler_takes_the_sensitivity_and_searches_its_budget():
    from nas.models.sensitivity import summed_sensitivity
    from nas.search.driver import Evaluation, SearchConfig, open_study, run_search
    from nas.search.samplers import SamplerContext, create_sampler

    space = _mixed_vit()

    class SensitiveEvaluator:  # accuracy falls with the lowered blocks' sensitivity; latency with the MACs
        def evaluate(self, config):
            macs = space.cost_features(config)["macs"]
            return Evaluation(float(np.log1p(macs) - 10 * summed_sensitivity(space, SENSITIVITY, config)),
                              float(macs / 1e6 + 1.0))

    sampler = create_sampler("guided", SamplerContext(space=space, sensitivity=SENSITIVITY))
    assert sampler.state.features.names[-1] == "sensitivity.sum"
    config = SearchConfig(trials=14, sampler="guided")
    study = run_search(open_study(None, config, space, sensitivity=SENSITIVITY), space, SensitiveEvaluator(),
                       config, progress=False)
    complete = [t for t in study.trials if t.state.name == "COMPLETE" and not t.user_attrs.get("repeat")]
    assert len({t.user_attrs["config_id"] for t in complete}) == 14
    assert study.sampler.state.accuracy_model.forest_.n_features_in_ == study.sampler.state.features.width
