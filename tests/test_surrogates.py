"""The guided sampler's accuracy features (nas.surrogates.FeatureCache)."""

import numpy as np

from nas.surrogates import FeatureCache
from search_spaces import create_space


def test_nb201_features_carry_the_functional_config_so_equal_functions_share_those_columns():
    space = create_space("nb201")
    features = FeatureCache(space)
    plain = len(features.encoder.feature_names_)
    assert features.width == plain + 6 * 5  # one-hot of each edge's functional operation
    # the same function (node 1 cut off from the input, so its edges are dead) spelled two ways
    one = space.from_arch_str("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|")
    two = space.from_arch_str("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|")
    assert space.functional_config(one) == space.functional_config(two)
    rows = features.encode([one, two])
    assert rows.shape == (2, features.width)
    assert np.array_equal(rows[0, plain:], rows[1, plain:])
    assert not np.array_equal(rows[0, :plain], rows[1, :plain])  # the configs themselves still differ
    assert features.encode([]).shape == (0, features.width)


def test_a_space_without_a_functional_view_gets_the_encoder_features_only():
    space = create_space("vit")
    features = FeatureCache(space)
    assert features.width == len(features.encoder.feature_names_)
    assert features.encode([space.smallest()]).shape == (1, features.width)
