"""The search-space contract, run over every registered space (`SPACES.names()` at collection time, so a
newly registered space is tested without anyone listing it): sampling gives canonical JSON configs, the
functional view and config ids ignore dead choices, bad configs are refused naming the allowed values, and
an extracted network computes what the supernet computes and exports to ONNX alone. A space without a
supernet is checked to say so in one line instead of being skipped.

`check_space(name, folder)` runs every check on one registered space; tests/contracts/test_registry.py
calls it on a throwaway space registered for the test."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.registry import RegistryError
from search_spaces import ConfigError, create_space, space_names

SMALL_ARGUMENTS = {
    "vit": {"image_size": 8, "in_channels": 1, "num_classes": 10},
    "mbv3": {"image_size": 16, "in_channels": 1, "num_classes": 10, "width_mult": 0.25, "depth_choices": [1, 2],
             "kernel_size_choices": [3, 5, 7], "expand_ratio_choices": [3, 6], "resolution_choices": [160, 192, 224]},
    "text_encoder": {"vocab_size": 50, "max_length": 12, "num_classes": 3, "embed_dim_choices": [32, 48],
                     "depth_choices": [1, 2]},
}
# Variants of a space the contract also covers: with precision choices (fp32 and int8 per block) and, for the
# transformers, with the attention kind as a per-block choice (softmax or linear) and with the token count as
# a choice (the vit's input resolution, the text encoder's length), with both attention kinds.
VARIANTS = {name: [{}, {"precisions": ["fp32", "int8"]}] for name in ("vit", "mbv3", "text_encoder")}
for _name in ("vit", "text_encoder"):
    VARIANTS[_name].append({"attention_choices": ["softmax", "linear"]})
VARIANTS["vit"].append({"resolution_choices": [4, 8, 12], "attention_choices": ["softmax", "linear"]})
VARIANTS["text_encoder"].append({"max_length_choices": [4, 8, 12], "attention_choices": ["softmax", "linear"]})


def example_inputs(space, count):
    """`count` inputs of the space's shape and type: random-normal floats, or token ids in its range
    (with some padding at the end of the first sequence)."""
    if space.input_range is None:
        return torch.randn(count, *space.input_shape)
    low, high = space.input_range
    inputs = torch.randint(low, high, (count, *space.input_shape), dtype=getattr(torch, space.input_dtype))
    inputs[0, space.input_shape[0] // 2:] = 0
    return inputs


def make(name, variant=None):
    return create_space(name, **SMALL_ARGUMENTS.get(name, {}), **(variant or {}))


def variants_of(name):
    """The argument variants the contract covers for space `name` ([{}] unless VARIANTS lists more)."""
    return VARIANTS.get(name, [{}])


@pytest.fixture(params=[(name, index) for name in space_names() for index in range(len(variants_of(name)))],
                ids=lambda param: f"{param[0]}-{param[1]}")
def space(request):
    name, index = request.param
    return make(name, variants_of(name)[index])


def test_sample_is_canonical_valid_and_json(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        config = space.sample(rng)
        assert space.canonical(config) == config
        assert json.loads(json.dumps(config)) == config
        assert len(space.config_id(config)) == 16


def test_the_functional_config_is_a_valid_config_and_a_fixed_point(space):
    rng = np.random.default_rng(1)
    for config in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(20)]:
        functional = space.functional_config(config)
        assert space.validate(functional) == functional
        assert space.functional_config(functional) == functional
        if not space.has_functional_view:
            assert functional == space.canonical(config)


def test_function_features_have_fixed_names_finite_values_and_ignore_dead_choices(space):
    rng = np.random.default_rng(2)
    configs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(20)]
    names = list(space.function_features(space.smallest()))
    assert bool(names) == space.has_function_features
    for config in configs:
        features = space.function_features(config)
        assert list(features) == names
        assert all(np.isfinite(value) for value in features.values())
        # what the network does not compute does not change what it is
        assert space.function_features(space.functional_config(config)) == features


def test_config_id_ignores_inactive_choices_and_key_order(space):
    config = space.largest()
    assert space.config_id(dict(reversed(list(config.items())))) == space.config_id(config)
    for key in space.inactive_keys(space.smallest()):
        changed = dict(space.smallest())
        changed[key] = space.choices[key].values[-1]
        assert space.config_id(changed) == space.config_id(space.smallest())


def test_unknown_key_and_value_are_rejected_with_allowed_values(space):
    config = space.largest()
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        space.validate({**config, "bogus": 1})
    key = next(iter(space.choices))
    with pytest.raises(ConfigError, match=f"'{key}'.*allowed: {space.choices[key].describe()}"):
        space.validate({**config, key: -12345})
    missing = dict(config)
    missing.pop(key)
    with pytest.raises(ConfigError, match="missing key"):
        space.validate(missing)


def test_distributions_cover_every_choice(space):
    distributions = space.distributions()
    assert list(distributions) == list(space.choices)
    for key, distribution in distributions.items():
        assert tuple(distribution.choices) == space.choices[key].values


# The ONNX export and its parity run on the largest network and on one sampled network of every variant
# (seeds 0 and 1); seeds 2-3 check extraction only. A dynamo export costs seconds (minutes under load), and
# these are the suite's most numerous exports.
EXPORTED_SEEDS = (0, 1)


@pytest.mark.parametrize("seed", range(4))
def test_extract_equals_supernet_and_exports_alone(space, seed, tmp_path):
    """Where the space has a supernet; a space without one (a benchmark-table space) must say so in one
    line, naming itself, rather than be skipped."""
    if not space.has_supernet:
        with pytest.raises(ConfigError, match=f"space {space.name!r} has no trainable supernet") as error:
            space.build_supernet()
        assert "\n" not in str(error.value)
        return
    torch.manual_seed(seed)
    supernet = space.build_supernet().eval()
    config = space.sample(seed) if seed else space.largest()
    images = example_inputs(space, 5)
    network = supernet.extract(config)
    with torch.no_grad():
        expected, got = supernet(images, config), network(images)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # no reference to the supernet: changing the supernet leaves the extracted network alone
    with torch.no_grad():
        for parameter in supernet.parameters():
            parameter.add_(1.0)
        torch.testing.assert_close(network(images), got, atol=0, rtol=0)
    assert sum(p.numel() for p in network.parameters()) == space.cost_features(config)["params"]
    if seed not in EXPORTED_SEEDS:
        return

    from nas.models.onnx_export import check_onnx, export_onnx, onnxruntime_logits

    path = export_onnx(network, space.input_shape, tmp_path / "net.onnx")
    check_onnx(path)
    # One sample per call: int8 activation ranges are per call, and the fake quantization takes them per sample.
    # With int8 layers a value on a rounding boundary may round the other way (last-bit float differences),
    # so the whole network agrees to 2% of the logit scale; one layer agrees exactly (test_quantization).
    int8 = bool(getattr(network, "int8_weights", dict)())
    tolerance = 0.02 * float(got.abs().max()) if int8 else 1e-4
    np.testing.assert_allclose(onnxruntime_logits(path, images.numpy(), batch_size=1), got.numpy(), atol=tolerance,
                               rtol=0)


def test_unknown_space_and_bad_arguments():
    with pytest.raises(RegistryError, match="unknown search space 'nope'; known: .*vit"):
        create_space("nope")
    with pytest.raises(ConfigError, match="patch_size"):
        create_space("vit", image_size=28, patch_size=5)
    with pytest.raises(RegistryError, match="search space 'vit'"):
        create_space("vit", not_an_argument=3)


def test_vit_costs_grow_with_the_network():
    space = create_space("vit")
    small, large = space.cost_features(space.smallest()), space.cost_features(space.largest())
    assert all(large[key] > small[key] for key in ("macs", "params", "activation_elements"))


def test_sample_distinct_gives_distinct_canonical_configs_included_first(space):
    configs = space.sample_distinct(12, 0, include=(space.largest(),))
    assert configs[0] == space.largest()
    assert len({space.config_id(config) for config in configs}) == len(configs) == 12
    assert all(space.canonical(config) == config for config in configs)
    assert space.sample_distinct(12, 0, include=(space.largest(),)) == configs  # seeded: reproducible


def test_sample_distinct_stops_when_the_space_is_smaller_than_asked():
    tiny = create_space("vit", image_size=8, depth_choices=[1], embed_dim_choices=[48], num_heads_choices=[1, 2],
                        mlp_ratio_choices=[1.0])
    assert len(tiny.sample_distinct(10, 0)) == 2


def enumerable(space, limit=5000):
    """`space`, or a copy whose choices keep their first two values, then (from the last key back) one,
    until every combination of values can be listed (at most `limit`)."""
    import copy
    import math

    from search_spaces.space import Choice

    if math.prod(len(choice.values) for choice in space.choices.values()) <= limit:
        return space
    small = copy.copy(space)
    small.__dict__.pop("_size", None)
    small.choices = {key: Choice(key, choice.values[:2], choice.help) for key, choice in space.choices.items()}
    for key in reversed(list(small.choices)):
        if math.prod(len(choice.values) for choice in small.choices.values()) <= limit:
            break
        small.choices[key] = Choice(key, small.choices[key].values[:1], small.choices[key].help)
    return small


def test_size_counts_every_distinct_network(space):
    """`size()` (counted, not listed) equals the number of config ids among every combination of values,
    on the space or on a copy with fewer values per choice (depths, collapsing values and dead blocks kept)."""
    import itertools

    small = enumerable(space)
    keys = list(small.choices)
    listed = {small.config_id(dict(zip(keys, values)))
              for values in itertools.product(*(small.choices[key].values for key in keys))}
    assert small.size() == len(listed) and isinstance(small.size(), int)
    assert isinstance(space.size(), int) and space.size() >= small.size()


def test_size_of_the_published_spaces():
    """NAS-Bench-201: 5 operations on 6 edges; once-for-all MobileNetV3: 25 resolutions and, per stage of
    2-4 blocks, 3 kernels x 3 expand ratios per block (the OFA paper's 2 x 10^19 networks per resolution)."""
    assert create_space("nb201").size() == 5 ** 6
    assert create_space("ofa_mbv3").size() == 25 * (9 ** 2 + 9 ** 3 + 9 ** 4) ** 5
    assert create_space("vit").size() == 3 * sum(9 ** depth for depth in (1, 2, 3, 4))


def test_sample_distinct_asks_no_more_than_the_space_holds():
    """Asking for more networks than the space holds returns them all, without 100 draws per missing one."""
    import time

    space = create_space("vit", image_size=8, depth_choices=[1, 2], embed_dim_choices=[48],
                         num_heads_choices=[1, 2], mlp_ratio_choices=[1.0, 2.0])
    started = time.perf_counter()
    configs = space.sample_distinct(10_000, 0)  # drew 1,000,000 configs (about a minute) before giving up
    assert len(configs) == space.size() == 4 + 4 ** 2 == len({space.config_id(config) for config in configs})
    assert time.perf_counter() - started < 5


# Every check above that takes one space, in order; `check_space` runs them on each variant of a space.
SPACE_CHECKS = (
    test_sample_is_canonical_valid_and_json,
    test_the_functional_config_is_a_valid_config_and_a_fixed_point,
    test_function_features_have_fixed_names_finite_values_and_ignore_dead_choices,
    test_config_id_ignores_inactive_choices_and_key_order,
    test_unknown_key_and_value_are_rejected_with_allowed_values,
    test_distributions_cover_every_choice,
    test_sample_distinct_gives_distinct_canonical_configs_included_first,
    test_size_counts_every_distinct_network,
)


def check_space(name: str, folder: Path, seeds: int = 2) -> None:
    """The whole contract on the registered space `name` (each variant; extraction with `seeds` seeds)."""
    for index, variant in enumerate(variants_of(name)):
        space = make(name, variant)
        for check in SPACE_CHECKS:
            check(space)
        for seed in range(seeds):
            (folder / f"{index}-{seed}").mkdir(parents=True, exist_ok=True)
            test_extract_equals_supernet_and_exports_alone(space, seed, folder / f"{index}-{seed}")
