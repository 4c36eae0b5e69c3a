"""Per-block precision sensitivity (SearchSpace.precision_sensitivity, nas.models.sensitivity): which configs it
measures, and that each number is the loss difference of those networks, computed here directly."""

import numpy as np
import pytest

from search_spaces import create_space


@pytest.fixture(scope="module")
def mixed(digits):
    """A tiny vit supernet on digits with fp32 / int8 / int4 blocks, its weights trained for a few steps
    so that quantization changes the loss of a network that has learned something."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    space = create_space("vit", **digits.space_arguments(), depth_choices=[1, 2], embed_dim_choices=[32, 48],
                         precisions=["fp32", "int8", "int4"])
    supernet = space.build_supernet()
    optimizer = torch.optim.Adam(supernet.parameters(), lr=3e-3)
    images, labels = torch.from_numpy(digits.x_train[:256]), torch.from_numpy(digits.y_train[:256]).long()
    for _ in range(20):
        optimizer.zero_grad()
        F.cross_entropy(supernet(images, space.largest()), labels).backward()
        optimizer.step()
    return space, supernet.eval()


def test_the_space_lowers_one_block_at_a_time_from_the_largest_network():
    space = create_space("vit", image_size=8, depth_choices=[1, 2], embed_dim_choices=[32],
                         precisions=["fp32", "int8", "int4"])
    asked = []

    def loss(config):
        asked.append(config)
        return float(len(asked))

    result = space.precision_sensitivity(loss)
    largest = space.largest()
    assert asked[0] == largest and result["baseline_loss"] == 1.0
    assert set(result["increase"]) == set(space.precision_keys) == {"block0.precision", "block1.precision"}
    for key, by_precision in result["increase"].items():
        assert set(by_precision) == {"int8", "int4"}  # every precision below the largest network's fp32
    lowered = asked[1:]
    assert len(lowered) == 4
    for config in lowered:  # exactly one choice differs from the largest network: one block's precision
        differing = [key for key in largest if config[key] != largest[key]]
        assert len(differing) == 1 and differing[0] in space.precision_keys
    # each increase is its config's loss minus the largest network's (1.0)
    values = sorted(v for by_precision in result["increase"].values() for v in by_precision.values())
    assert values == [1.0, 2.0, 3.0, 4.0]


def test_a_space_with_one_precision_has_no_sensitivity():
    space = create_space("vit", image_size=8, depth_choices=[1], embed_dim_choices=[32])
    assert space.precision_keys == []
    assert space.precision_sensitivity(lambda config: 0.5) == {"baseline_loss": 0.5, "increase": {}}


def test_each_sensitivity_is_the_loss_difference_of_the_two_networks(mixed, digits):
    import torch
    import torch.nn.functional as F

    from nas.models.sensitivity import precision_sensitivity

    space, supernet = mixed
    result = precision_sensitivity(space, supernet, digits, batch_size=100)
    assert result["batch"] == 100
    images, labels = torch.from_numpy(digits.x_val[:100]), torch.from_numpy(digits.y_val[:100]).long()

    def loss(config):
        with torch.no_grad():
            return float(F.cross_entropy(supernet(images, config), labels))

    largest = space.largest()
    assert result["baseline_loss"] == pytest.approx(loss(largest), abs=1e-6)
    for key in space.precision_keys:
        for precision in ("int8", "int4"):
            direct = loss({**largest, key: precision}) - loss(largest)
            assert result["increase"][key][precision] == pytest.approx(direct, abs=1e-6)
    # quantizing changes the network (fake quantization is applied), and int4 costs more than int8 somewhere
    increases = result["increase"]
    assert any(abs(v) > 0 for by_precision in increases.values() for v in by_precision.values())
    assert max(by["int4"] for by in increases.values()) > max(by["int8"] for by in increases.values())
    assert precision_sensitivity(space, supernet, digits, batch_size=100) == result  # deterministic


def test_the_summed_sensitivity_counts_the_active_lowered_blocks_only():
    from nas.models.sensitivity import summed_sensitivity

    space = create_space("vit", image_size=8, depth_choices=[1, 2], embed_dim_choices=[32],
                         precisions=["fp32", "int8", "int4"])
    increase = {"block0.precision": {"int8": 0.01, "int4": 0.1}, "block1.precision": {"int8": 0.02, "int4": 0.2}}
    config = {**space.largest(), "block0.precision": "int4", "block1.precision": "int8"}
    assert summed_sensitivity(space, increase, config) == pytest.approx(0.12)
    assert summed_sensitivity(space, increase, {**config, "depth": 1}) == pytest.approx(0.1)  # block 1 is inactive
    assert summed_sensitivity(space, increase, space.largest()) == 0.0
    assert np.isfinite(summed_sensitivity(space, {}, config))
