"""supernet.pt carries checksums of every tensor (weights, optimizer state, generator) and of the rest
of the file (issue #24): a byte flipped in tensor data, or an edited setting, is refused in one line
before resume, search or export use it; a checkpoint written before checksums is refused too."""

import io
from dataclasses import asdict

import pytest
import torch

from nas.errors import HwnasError
from nas.models.checkpoint import FORMAT, load_checkpoint, load_supernet, save_checkpoint
from nas.training.train import TrainingConfig
from search_spaces import create_space

ARGUMENTS = {"image_size": 8, "in_channels": 1, "num_classes": 10, "embed_dim_choices": [32, 48]}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A supernet.pt as `hwnas train` writes it, with optimizer state (one step taken), untrained."""
    space = create_space("vit", **ARGUMENTS)
    supernet = space.build_supernet()
    optimizer = torch.optim.AdamW(supernet.parameters(), lr=1e-3)
    supernet(torch.zeros(2, 1, 8, 8), space.largest()).sum().backward()
    optimizer.step()
    state = {"space": {"name": space.name, "arguments": space.arguments}, "dataset": "digits",
             "model": supernet.state_dict(), "optimizer": optimizer.state_dict(),
             "generator": torch.Generator().manual_seed(0).get_state(), "sampler_seed": 7, "epoch": 1,
             "training": asdict(TrainingConfig(epochs=1)), "history": [{"epoch": 1, "train_loss": 2.3}]}
    path = tmp_path_factory.mktemp("checkpoint") / "supernet.pt"
    save_checkpoint(path, state)
    return path, supernet.state_dict()


def flipped(data: bytes, tensor: torch.Tensor) -> bytes:
    """`data` with one byte flipped inside the stored bytes of `tensor` (found by its contents)."""
    raw = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    start = data.find(raw)
    assert start >= 0 and data.find(raw, start + 1) < 0, "the tensor's bytes should occur once"
    middle = start + len(raw) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def test_a_flipped_byte_in_a_weight_is_refused_by_load_and_by_resume(checkpoint, tmp_path):
    path, weights = checkpoint
    damaged = tmp_path / "supernet.pt"
    damaged.write_bytes(flipped(path.read_bytes(), weights["head.weight"]))
    for load in (load_checkpoint, load_supernet):
        with pytest.raises(HwnasError, match=r"is corrupt: tensor 'model\.head\.weight' does not match") as error:
            load(damaged)
        assert "\n" not in str(error.value)


def test_a_flipped_byte_in_the_optimizer_state_is_refused(checkpoint, tmp_path):
    path, _ = checkpoint
    state = torch.load(path, weights_only=True)
    moment = state["optimizer"]["state"][0]["exp_avg"]
    damaged = tmp_path / "supernet.pt"
    damaged.write_bytes(flipped(path.read_bytes(), moment))
    with pytest.raises(HwnasError, match=r"tensor 'optimizer\.state\.0\.exp_avg' does not match"):
        load_checkpoint(damaged)


def test_an_edited_setting_is_refused(checkpoint, tmp_path):
    path, _ = checkpoint
    state = torch.load(path, weights_only=True)
    state["space"]["arguments"]["num_classes"] = 11
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(HwnasError, match="names, shapes or settings do not match their checksum"):
        load_checkpoint(tmp_path / "edited.pt")


def test_a_checkpoint_without_checksums_is_refused_with_what_to_do(checkpoint, tmp_path):
    path, _ = checkpoint
    state = torch.load(path, weights_only=True)
    old = {key: value for key, value in state.items() if key not in ("checksums", "structure_sha256")}
    torch.save({**old, "format": FORMAT, "format_version": 1}, tmp_path / "old.pt")
    with pytest.raises(HwnasError, match="format version 1, written before checkpoints carried checksums.*hwnas train"):
        load_checkpoint(tmp_path / "old.pt")


def test_a_sound_checkpoint_loads(checkpoint):
    path, weights = checkpoint
    space, supernet, state = load_supernet(path)
    torch.testing.assert_close(supernet.state_dict()["head.weight"], weights["head.weight"])
    assert state["epoch"] == 1 and isinstance(io.BytesIO(path.read_bytes()).read(2), bytes)
