"""The token count as a choice (issue #30): the text encoder's `max_length` (tokens read, the first of the
input) and the ViT's `resolution` (the input resized before the stem, the position grid resized to the
tokens'). Off by default (no key, the same space keys and config_ids); the exported model runs its blocks
at the chosen count; bad arguments are refused in one line."""

import numpy as np
import onnx
import pytest
import torch

from nas.models.onnx_export import export_onnx, onnxruntime_logits
from search_spaces import ConfigError, create_space
from search_spaces.vit_network import resized_input

TEXT = {"vocab_size": 40, "max_length": 16, "num_classes": 3, "embed_dim_choices": [16, 32], "depth_choices": [1, 2],
        "num_heads_choices": [1, 2], "mlp_ratio_choices": [1.0, 2.0]}
VIT = {"image_size": 16, "in_channels": 1, "num_classes": 4, "stem_channels": 8, "embed_dim_choices": [16],
       "depth_choices": [1], "num_heads_choices": [1], "mlp_ratio_choices": [1.0]}


def test_off_by_default_and_when_given_the_keys_lead():
    assert "max_length" not in create_space("text_encoder").choices
    assert "resolution" not in create_space("vit").choices
    # a single value is no choice, but it is recorded (the network reads fewer tokens than the input holds)
    single = create_space("text_encoder", **TEXT, max_length_choices=[8])
    assert "max_length" not in single.choices and single.shape(single.largest()).max_length == 8
    assert single.key != create_space("text_encoder", **TEXT).key
    text = create_space("text_encoder", **TEXT, max_length_choices=[16, 4, 8])
    assert list(text.choices)[0] == "max_length" and text.choices["max_length"].values == (4, 8, 16)
    assert text.arguments["max_length_choices"] == [4, 8, 16]
    vit = create_space("vit", **VIT, resolution_choices=[16, 8])
    assert list(vit.choices)[0] == "resolution" and vit.choices["resolution"].values == (8, 16)
    assert vit.calibration_samples > 0  # the stem's BatchNorm sees each resolution's statistics
    assert create_space("vit", **VIT).calibration_samples == 0


def test_the_text_network_reads_the_first_tokens_at_the_chosen_length(tmp_path):
    space = create_space("text_encoder", **TEXT, max_length_choices=[4, 16])
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    config = {**space.largest(), "max_length": 4}
    ids = torch.randint(1, 40, (3, 16))
    changed = ids.clone()
    changed[:, 4:] = torch.randint(1, 40, (3, 12))
    network = supernet.extract(config)
    assert network.pos_embed.shape == (1, 4, 32)
    with torch.no_grad():
        torch.testing.assert_close(supernet(changed, config), supernet(ids, config))  # the rest is not read
        assert not torch.allclose(supernet(changed, space.largest()), supernet(ids, space.largest()))
        torch.testing.assert_close(network(ids), supernet(ids, config), atol=1e-5, rtol=0)
    costs = space.cost_features(config)
    assert costs["tokens"] == 4.0 and costs["attention_macs"] == 2 * 4 * 4 * 2 * 16 * 2  # n^2 d x 2, two blocks
    path = export_onnx(network, space.input_shape, tmp_path / "text.onnx")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 16  # the input is the data's length
    assert any(node.op_type == "Slice" for node in model.graph.node)  # ... of which it keeps the first 4
    np.testing.assert_allclose(onnxruntime_logits(path, ids.numpy()), network(ids).detach().numpy(), atol=1e-4)


def test_the_vit_resizes_its_input_and_its_position_grid(tmp_path):
    space = create_space("vit", **VIT, resolution_choices=[8, 16])
    assert [space.shape({**space.largest(), "resolution": side}).tokens for side in (8, 16)] == [4, 16]
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    assert supernet.pos_embed.shape == create_space("vit", **VIT).build_supernet().pos_embed.shape == (1, 16, 16)
    small = {**space.largest(), "resolution": 8}
    network = supernet.extract(small)
    assert network.pos_embed.shape == (1, 16, 16)  # the whole grid, resized in the network
    images = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(network(images), supernet(images, small), atol=1e-5, rtol=0)
        # the blocks see 4 tokens: the stem's output is 4x4 pixels, 2x2 patches of 2
        assert network.stem(resized_input(images, network.shape)).shape == (2, 8, 4, 4)
    assert space.cost_features(small)["tokens"] == 4.0
    assert space.cost_features(small)["attention_macs"] < space.cost_features(space.largest())["attention_macs"]
    assert sum(p.numel() for p in network.parameters()) == space.cost_features(small)["params"]
    path = export_onnx(network, space.input_shape, tmp_path / "vit.onnx")
    assert any(node.op_type == "Resize" for node in onnx.load(str(path)).graph.node)
    np.testing.assert_allclose(onnxruntime_logits(path, images.numpy()), network(images).detach().numpy(), atol=1e-4)


def test_the_largest_resolution_is_the_identity_resize():
    plain, chosen = create_space("vit", **VIT), create_space("vit", **VIT, resolution_choices=[8, 16])
    torch.manual_seed(0)
    supernet = chosen.build_supernet().eval()
    network = supernet.extract(chosen.largest()).eval()
    reference = plain.build_network({key: value for key, value in chosen.largest().items() if key != "resolution"})
    reference.load_state_dict(network.state_dict())
    reference.eval()
    images = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(network(images), reference(images), atol=0, rtol=0)


@pytest.mark.parametrize("name, arguments, message", [
    ("text_encoder", {**TEXT, "max_length_choices": [8, 32]}, r"'max_length_choices' must hold lengths of at most "
                                                               r"max_length \(16"),
    ("text_encoder", {**TEXT, "max_length_choices": []}, r"'max_length_choices' must be a non-empty list"),
    ("vit", {**VIT, "resolution_choices": [6, 16]}, r"'resolution_choices' must hold multiples of stem_stride x "
                                                    r"patch_size \(4\)"),
    ("vit", {**VIT, "resolution_choices": [0, 16]}, r"'resolution_choices' must be a non-empty list"),
])
def test_bad_token_count_arguments_are_refused_in_one_line(name, arguments, message):
    with pytest.raises(ConfigError, match=message) as error:
        create_space(name, **arguments)
    assert "\n" not in str(error.value)


def test_token_data_padded_to_a_longer_length_gives_the_same_logits(tmp_path):
    from nas.data import load_dataset
    from nas.data.text import padded_to
    from nas.errors import HwnasError

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tokens.npz", input_ids=rng.integers(1, 30, size=(60, 6)), labels=np.repeat([0, 1, 2], 20))
    data = load_dataset(str(tmp_path / "tokens.npz"))
    longer = padded_to(data, 10)
    assert longer.space_arguments()["max_length"] == 10 and longer.x_train.shape == (len(data.x_train), 10)
    assert (longer.x_train[:, :6] == data.x_train).all() and (longer.x_val[:, 6:] == 0).all()
    assert (padded_to(data, 4).x_test == data.x_test[:, :4]).all()
    short, long = (create_space("text_encoder", **{**TEXT, **d.space_arguments()}) for d in (data, longer))
    torch.manual_seed(0)
    network = short.build_supernet().extract(short.largest()).eval()
    stretched = long.build_network(long.largest()).eval()
    state = network.state_dict()
    state["pos_embed"] = torch.cat([state["pos_embed"], torch.randn(1, 4, 32)], dim=1)  # padding's positions
    stretched.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(stretched(torch.from_numpy(longer.x_val)), network(torch.from_numpy(data.x_val)),
                                   atol=1e-5, rtol=0)
    with pytest.raises(HwnasError, match="holds no token ids"):
        padded_to(load_dataset("digits"), 10)
