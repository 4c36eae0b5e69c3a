"""The attention kind as a per-block choice of the transformer spaces (`block{i}.attention`: softmax or
elu+1 linear attention): off by default (every existing key and config_id unchanged), the linear
arithmetic against a per-query reference, padding masked, costs against a hand count, the shared weights
trained by the sandwich rule, and int8 blocks with linear attention through ONNX Runtime."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from search_spaces import ConfigError, create_space
from search_spaces.attention import linear_attention, softmax_attention

TEXT = {"vocab_size": 40, "max_length": 12, "num_classes": 3, "embed_dim_choices": [16], "depth_choices": [1, 2],
        "num_heads_choices": [1, 2], "mlp_ratio_choices": [1.0, 2.0]}
BOTH = {"attention_choices": ["softmax", "linear"]}


def test_the_default_spaces_are_unchanged():
    """Keys, space keys and config_ids as they were before attention was a choice (values from the commit
    before it), so stored measurements, checkpoints and studies stay valid."""
    expected = {("vit", ()): ("vit-97dc901e", "0e00a51773aeba95", "25361dcfc22b442c", "ad3164b9978dcfe2"),
                ("text_encoder", ()): ("text_encoder-8852efda", "31dfd2ded307c409", "9488177a23a9d916",
                                       "f54f4f002428cc3d"),
                ("vit", ("fp32", "int8")): ("vit-0a4e6961", "eaf375217d77e7c9", "b85f25c56082b356",
                                            "f6a0b108e8e3b796")}
    for (name, precisions), (key, largest, smallest, sampled) in expected.items():
        space = create_space(name, **({"precisions": list(precisions)} if precisions else {}))
        assert not any(choice.endswith(".attention") for choice in space.choices)
        assert "attention_choices" not in space.arguments
        assert (space.key, space.config_id(space.largest()), space.config_id(space.smallest()),
                space.config_id(space.sample(0))) == (key, largest, smallest, sampled)
    assert create_space("vit", attention_choices=["softmax"]).key == "vit-97dc901e"


def test_the_choice_ascends_and_a_single_kind_is_no_key():
    space = create_space("vit", image_size=8, **BOTH)
    assert space.choices["block0.attention"].values == ("linear", "softmax")
    assert space.arguments["attention_choices"] == ["linear", "softmax"]  # normalised order
    assert all(value == "softmax" for key, value in space.largest().items() if key.endswith(".attention"))
    assert all(value == "linear" for key, value in space.smallest().items() if key.endswith(".attention"))
    linear_only = create_space("vit", image_size=8, attention_choices=["linear"])
    assert not any(key.endswith(".attention") for key in linear_only.choices)
    assert {block.attention for block in linear_only.shape(linear_only.largest()).blocks} == {"linear"}
    assert linear_only.key != create_space("vit", image_size=8).key


@pytest.mark.parametrize("bad", [["performer"], [], "linear", ["linear", 3], None])
def test_a_bad_attention_argument_is_refused_in_one_line_naming_the_kinds(bad):
    with pytest.raises(ConfigError, match=r"'attention_choices' must be a non-empty list from \['linear', "
                                          r"'softmax'\]") as error:
        create_space("text_encoder", **TEXT, attention_choices=bad)
    assert "\n" not in str(error.value)


def test_linear_attention_is_the_kernelized_formula_per_query():
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, 3, 7, 4) for _ in range(3))
    mask = torch.ones(2, 7)
    mask[1, 4:] = 0.0
    got = linear_attention(query, key, value, mask)
    phi = lambda x: F.elu(x) + 1.0  # noqa: E731
    expected = torch.zeros_like(got)
    for b in range(2):
        for h in range(3):
            for i in range(7):
                weights = torch.stack([phi(query[b, h, i]) @ phi(key[b, h, j]) * mask[b, j] for j in range(7)])
                expected[b, h, i] = (weights[:, None] * value[b, h]).sum(0) / weights.sum()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # masked keys change nothing; the softmax kind masks the same keys
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[1, :, 4:] += 3.0
    changed_value[1, :, 4:] -= 2.0
    torch.testing.assert_close(linear_attention(query, changed_key, changed_value, mask), got)
    torch.testing.assert_close(softmax_attention(query, changed_key, changed_value, mask),
                               softmax_attention(query, key, value, mask))
    # a sequence of padding only attends to nothing (0, not NaN)
    assert torch.equal(linear_attention(query, key, value, torch.zeros(2, 7)), torch.zeros_like(got))


def test_mixed_kinds_share_the_weights_extract_alike_and_ignore_padding():
    space = create_space("text_encoder", **TEXT, **BOTH)
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    config = {**space.largest(), "block0.attention": "linear", "block1.attention": "softmax", "block1.num_heads": 1}
    softmax_only = {**config, "block0.attention": "softmax"}
    assert supernet.weight_slices(config) == supernet.weight_slices(softmax_only)  # same weights, other arithmetic
    ids = torch.randint(1, 40, (3, 12))
    ids[:, 7:] = 0
    with torch.no_grad():
        logits = supernet(ids, config)
        assert not torch.allclose(logits, supernet(ids, softmax_only))
        torch.testing.assert_close(supernet.extract(config)(ids), logits, atol=1e-5, rtol=0)
        supernet.pos_embed[:, 7:].add_(5.0)  # positions holding padding
        torch.testing.assert_close(supernet(ids, config), logits)


def test_costs_count_quadratic_softmax_and_linear_attention_by_hand():
    """12 tokens, head width 16: softmax with 2 heads costs 2 * (12 * 12 * 16) * 2 MACs (Q K^T and the
    weighted sum of V); linear with 1 head 2 * (12 * 16 * 16) + 12 * 16 (phi(K)^T V, phi(Q) times it, and
    the normaliser)."""
    space = create_space("text_encoder", **TEXT, **BOTH)
    config = {**space.largest(), "block0.num_heads": 2, "block0.attention": "softmax",
              "block1.num_heads": 1, "block1.attention": "linear"}
    softmax_macs, linear_macs = 2 * (12 * 12 * 16) * 2, 2 * (12 * 16 * 16) + 12 * 16
    costs = space.cost_features(config)
    assert (costs["attention_macs"], costs["linear_attention_macs"], costs["linear_attention_blocks"]) == \
        (softmax_macs + linear_macs, linear_macs, 1)
    assert costs["macs"] == costs["linear_macs"] + softmax_macs + linear_macs
    # the vit reports the same per block slot: 4 tokens (8x8 image, stem stride 2, patch 2)
    vit = create_space("vit", image_size=8, **BOTH)
    vit_config = {**vit.largest(), "depth": 2, "block0.num_heads": 2, "block0.attention": "softmax",
                  "block1.num_heads": 1, "block1.attention": "linear"}
    slots = {layer.slot: layer for layer in vit.layer_costs(vit_config)}
    assert (slots["block0.attention"].kind, slots["block0.attention"].macs) == ("attention", 2 * (4 * 4 * 16) * 2)
    assert (slots["block1.attention"].kind, slots["block1.attention"].macs) == \
        ("linear_attention", 2 * (4 * 16 * 16) + 4 * 16)
    assert set(vit.layer_kinds()) >= {"attention", "linear_attention"}
    assert "linear_attention" not in create_space("vit", image_size=8).layer_kinds()
    # with no linear block a default space reports no attention features of its own
    assert "linear_attention_macs" not in create_space("text_encoder", **TEXT).cost_features(
        create_space("text_encoder", **TEXT).largest())


def test_the_sandwich_rule_trains_both_kinds_on_shared_weights(monkeypatch, digits, tmp_path):
    from nas.training import train as training

    space = create_space("vit", image_size=8, in_channels=1, num_classes=10, stem_channels=4, depth_choices=[1, 2],
                         embed_dim_choices=[16], num_heads_choices=[1], mlp_ratio_choices=[1.0], **BOTH)
    trained = []
    real_step = training._sandwich_step

    def recording_step(supernet, batch, target, largest, students, *rest):
        trained.append([largest] + list(students))
        return real_step(supernet, batch, target, largest, students, *rest)

    monkeypatch.setattr(training, "_sandwich_step", recording_step)
    small = dataclasses.replace(digits, x_train=digits.x_train[:96], y_train=digits.y_train[:96],
                                x_val=digits.x_val[:32], y_val=digits.y_val[:32])
    supernet = space.build_supernet()
    before = supernet.blocks[0].qkv.weight.detach().clone()
    config = training.TrainingConfig(epochs=1, batch_size=32, largest_only_fraction=0.0, threads=1, augment=False)
    state = training.train_supernet(space, small, tmp_path / "supernet.pt", config, progress=False,
                                    initial_weights=supernet.state_dict())
    kinds = {network[key] for step in trained for network in step for key in network if key.endswith(".attention")}
    assert kinds == {"linear", "softmax"}  # the teacher is softmax, the smallest linear
    assert not torch.equal(state["model"]["blocks.0.qkv.weight"], before)


@pytest.mark.parametrize("name", ["vit", "text_encoder"])
def test_int8_blocks_with_linear_attention_export_and_match_onnxruntime(name, tmp_path):
    from nas.models.onnx_export import export_onnx, integer_kernels, onnxruntime_logits

    arguments = {"image_size": 8, "embed_dim_choices": [16], "depth_choices": [2], "num_heads_choices": [1, 2],
                 "mlp_ratio_choices": [1.0]} if name == "vit" else TEXT
    space = create_space(name, **arguments, precisions=["fp32", "int8"], **BOTH)
    torch.manual_seed(1)
    supernet = space.build_supernet().eval()
    config = {**space.largest(), "depth": 2, "block0.attention": "linear", "block0.precision": "int8",
              "block1.attention": "linear", "block1.precision": "fp32"}
    network = supernet.extract(config)
    if name == "vit":
        inputs = torch.randn(3, *space.input_shape)
    else:
        inputs = torch.randint(1, 40, (3, 12))
        inputs[0, 6:] = 0
    with torch.no_grad():
        expected = network(inputs)
        torch.testing.assert_close(expected, supernet(inputs, config), atol=1e-5, rtol=0)
    path = export_onnx(network, space.input_shape, tmp_path / "net.onnx")
    assert integer_kernels(path, "ort-dynamic") == 4  # the int8 block's four linear layers; attention stays fp32
    got = onnxruntime_logits(path, inputs.numpy(), batch_size=1)
    np.testing.assert_allclose(got, expected.numpy(), atol=0.02 * float(expected.abs().max()), rtol=0)
