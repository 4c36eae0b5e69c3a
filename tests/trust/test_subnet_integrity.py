"""`subnet.pt` checksums cover its config, space and the rest of the file, not only its tensors (issue #24):
an edited config (the same tensors, another network) is refused in one line instead of loaded."""

import pytest
import torch

from nas.cli import main
from nas.errors import HwnasError
from nas.models.subnet import load_subnet, save_subnet
from search_spaces import create_space


@pytest.fixture(scope="module")
def subnet_file(tmp_path_factory):
    torch.manual_seed(0)
    space = create_space("vit", image_size=8, depth_choices=[1, 2], embed_dim_choices=[48], num_heads_choices=[1, 2],
                         mlp_ratio_choices=[1.0, 2.0], precisions=["fp32", "int8"])
    supernet = space.build_supernet().eval()
    config = space.canonical({**space.largest(), "block0.precision": "fp32", "block1.precision": "fp32"})
    return save_subnet(tmp_path_factory.mktemp("subnet") / "subnet.pt", space, config, supernet.extract(config))


def edited(path, tmp_path, change):
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, tmp_path / "edited.pt")
    return tmp_path / "edited.pt"


@pytest.mark.parametrize("what, change", [
    ("a block's precision", lambda state: state["config"].__setitem__("block0.precision", "int8")),
    ("the space's precisions", lambda state: state["space"]["arguments"].__setitem__("precisions", ["int8"])),
    ("the config id", lambda state: state.__setitem__("config_id", "0" * 16)),
    ("the source", lambda state: state["source"].__setitem__("trial", 7)),
])
def test_an_edited_subnet_file_is_refused(subnet_file, tmp_path, what, change):
    """The block-precision edit loaded before: the same fp32 tensors, run as an int8 network."""
    assert load_subnet(subnet_file) is not None
    with pytest.raises(HwnasError, match="is corrupt: its names, shapes or settings do not match their checksum") \
            as caught:
        load_subnet(edited(subnet_file, tmp_path, change))
    assert "\n" not in str(caught.value)


def test_a_format_1_subnet_file_is_refused_saying_how_to_write_it_again(subnet_file, tmp_path):
    path = edited(subnet_file, tmp_path, lambda state: state.update(format_version=1))
    with pytest.raises(HwnasError, match=r"format version 1, whose checksums covered its tensors only.*`hwnas extract`"):
        load_subnet(path)


def test_extract_writes_a_sealed_file_through_the_cli(complete_run, tmp_path, capsys):
    run, _, _ = complete_run
    card = next(p for p in (run / "models").glob("*.json") if p.name != "index.json")
    assert main(["extract", "--run", str(run), "--config", str(card), "--out", str(tmp_path / "s.pt")]) == 0
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    assert state["format_version"] == 2 and len(state["structure_sha256"]) == 64
    assert set(state["checksums"]) == {f"state_dict.{name}" for name in state["state_dict"]}
    load_subnet(tmp_path / "s.pt")
