"""The profiling-strategy contract, run over every registered strategy (`STRATEGIES.names()` at collection
time, so a newly registered strategy is tested without anyone listing it): `strategy(space, count, seed)`
returns `count` distinct, valid, canonical configs, the largest and the smallest network first (what every
latency predictor needs to see), the same list for the same seed, and fewer only when the space holds
fewer networks. `hwnas profile --strategy` offers these names.

`check_strategy(name)` is the whole check; tests/contracts/test_registry.py calls it on a throwaway
strategy registered for the test.
"""

import pytest

from nas.profiling.profiler import profiling_configs
from nas.profiling.strategies import STRATEGIES
from search_spaces import create_space

COUNT = 12
# A small ViT with per-block precision choices (strategies must handle string choices too), and one with
# only two networks (smaller than COUNT).
SPACE_ARGUMENTS = {"image_size": 8, "in_channels": 1, "num_classes": 10, "precisions": ["fp32", "int8"]}
TWO_NETWORK_ARGUMENTS = {"image_size": 8, "depth_choices": [1], "embed_dim_choices": [48], "num_heads_choices": [1, 2],
                         "mlp_ratio_choices": [1.0]}


def check_strategy(name: str) -> None:
    """The contract on the registered profiling strategy `name`."""
    space = create_space("vit", **SPACE_ARGUMENTS)
    strategy = STRATEGIES.get(name)
    configs = strategy(space, COUNT, 0)
    assert len(configs) == COUNT, f"strategy {name!r} gave {len(configs)} configs for {COUNT}"
    assert len({space.config_id(config) for config in configs}) == COUNT, f"strategy {name!r} repeats a network"
    for config in configs:
        assert space.validate(config) == config and space.canonical(config) == config
    assert configs[:2] == [space.largest(), space.smallest()]
    assert strategy(space, COUNT, 0) == configs, f"strategy {name!r} is not reproducible by seed"
    assert profiling_configs(space, COUNT, 0, strategy=name) == configs  # what `hwnas profile` runs
    tiny = create_space("vit", **TWO_NETWORK_ARGUMENTS)
    assert len({tiny.config_id(config) for config in strategy(tiny, COUNT, 0)}) == 2


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_gives_distinct_canonical_configs_with_the_corners_first(name):
    check_strategy(name)


def test_another_seed_gives_another_sample():
    """The seed is used: the uniform strategy draws other networks with another seed."""
    space = create_space("vit", **SPACE_ARGUMENTS)
    assert STRATEGIES.get("random")(space, COUNT, 0)[2:] != STRATEGIES.get("random")(space, COUNT, 1)[2:]
