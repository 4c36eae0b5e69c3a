import pytest
import torch

from nas.models.checkpoint import load_checkpoint, load_supernet
from nas.errors import HwnasError
from nas.training.train import TrainingConfig, train_supernet
from search_spaces import create_space


def test_training_learns_and_resumes(tmp_path, digits):
    space = create_space("vit", **digits.space_arguments())
    path = tmp_path / "supernet.pt"
    first = train_supernet(space, digits, path, TrainingConfig(epochs=1, threads=2), progress=False)
    assert first["epoch"] == 1 and load_checkpoint(path)["space"]["name"] == "vit"
    second = train_supernet(space, digits, path, TrainingConfig(epochs=3, threads=2), progress=False)
    assert [record["epoch"] for record in second["history"]] == [1, 2, 3]
    assert second["history"][-1]["val_accuracy_largest"] > 0.5  # chance is 0.1
    rebuilt_space, supernet, _ = load_supernet(path)
    assert rebuilt_space.arguments == space.arguments
    torch.testing.assert_close(supernet.state_dict()["head.weight"], second["model"]["head.weight"])


def test_sandwich_phase_trains_the_smallest_too(tmp_path, digits):
    space = create_space("vit", **digits.space_arguments())
    state = train_supernet(space, digits, tmp_path / "s.pt",
                           TrainingConfig(epochs=4, largest_only_fraction=0.5, threads=2), progress=False)
    assert state["history"][-1]["val_accuracy_smallest"] > 0.4


def test_checkpoint_for_another_dataset_is_not_overwritten(tmp_path, digits):
    space = create_space("vit", **digits.space_arguments())
    path = tmp_path / "supernet.pt"
    train_supernet(space, digits, path, TrainingConfig(epochs=1, threads=2), progress=False)
    before = path.read_bytes()
    other = create_space("vit", image_size=8, in_channels=1, num_classes=10, embed_dim_choices=[32, 48])
    with pytest.raises(HwnasError, match="use another run folder"):
        train_supernet(other, digits, path, TrainingConfig(epochs=2), progress=False)
    assert path.read_bytes() == before
    # same space name and data set, other precisions (an fp32 run folder reused for a mixed-precision
    # supernet): the message names what differs instead of "not 'vit' on 'digits'" alone
    joint = create_space("vit", **digits.space_arguments(), precisions=["fp32", "int8"])
    with pytest.raises(HwnasError, match=r"space arguments that differ: int8_scheme, precisions\); use another"):
        train_supernet(joint, digits, path, TrainingConfig(epochs=2), progress=False)
    assert path.read_bytes() == before


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(HwnasError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(HwnasError, match="corrupt"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(HwnasError, match="not an hwnas supernet checkpoint"):
        load_checkpoint(foreign)


def test_bad_training_values():
    with pytest.raises(HwnasError, match="'epochs'"):
        TrainingConfig(epochs=0)
    with pytest.raises(HwnasError, match="'threads'"):
        TrainingConfig(threads=-1)


def test_train_threads_reach_the_training_config():
    """`hwnas train --threads N` sets torch's intra-op threads (TrainingConfig.threads had no option: on 2 shared
    cores the default of all cores made each sandwich step 5x slower than one thread)."""
    from nas.cli_parser import build_parser
    from nas.training.options import training_config

    parser = build_parser()
    assert training_config(parser.parse_args(["train", "--run", "r", "--threads", "1"])).threads == 1
    assert training_config(parser.parse_args(["train", "--run", "r"])).threads == 0  # all cores, as before
