"""An image folder larger than the in-memory cache is read lazily: each split is a `torch.utils.data.Dataset`
decoded per item (by the DataLoader's workers in training), the training split's statistics are streamed,
and every result equals the in-memory path's for the same folder."""

import numpy as np
import pytest
import torch

from nas.data import folder_images
from nas.data.batches import input_batches
from nas.data.folder import load_image_folder
from nas.data.folder_images import FolderImages, streamed_statistics
from nas.errors import HwnasError

LAZY = 0  # cache_bytes: no folder is small enough to be held in memory


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits, write_digits):
    return write_digits(tmp_path_factory.mktemp("lazy") / "digits", digits, count=90, classes=5)


@pytest.fixture
def decodes(monkeypatch):
    """Counts the images decoded (wherever they are decoded in this process)."""
    calls = []
    original = folder_images.decode

    def counting(path, size, channels):
        calls.append(path)
        return original(path, size, channels)

    monkeypatch.setattr(folder_images, "decode", counting)
    return calls


def _split_arrays(data):
    return [np.concatenate(list(input_batches(inputs, 7))) for inputs in (data.x_train, data.x_val, data.x_test)]


def test_lazy_and_in_memory_give_the_same_inputs_statistics_and_labels(folder):
    lazy, held = load_image_folder(folder, cache_bytes=LAZY), load_image_folder(folder)
    assert all(isinstance(split, FolderImages) for split in (lazy.x_train, lazy.x_val, lazy.x_test))
    assert all(isinstance(split, np.ndarray) for split in (held.x_train, held.x_val, held.x_test))
    assert lazy.preprocessing == held.preprocessing and lazy.input_shape == held.input_shape
    for read, array in zip(_split_arrays(lazy), (held.x_train, held.x_val, held.x_test)):
        assert read.dtype == np.float32 and np.array_equal(read, array)
    for name in ("y_train", "y_val", "y_test"):
        assert np.array_equal(getattr(lazy, name), getattr(held, name))


def test_a_folder_over_the_threshold_never_materialises_a_split(folder, decodes):
    data = load_image_folder(folder, cache_bytes=LAZY)
    train, total = len(data.y_train), len(data.y_train) + len(data.y_val) + len(data.y_test)
    assert len(decodes) == train < total  # the statistics pass alone: each training image once
    assert not any(isinstance(value, np.ndarray) and value.ndim == 4 for value in vars(data).values())
    decodes.clear()
    record = data.preprocessing
    reopened = load_image_folder(folder, normalisation=(record["mean"], record["std"]), cache_bytes=LAZY)
    assert decodes == [] and isinstance(reopened.x_val, FolderImages)  # a run reopening its data decodes nothing
    from nas.training.loader import training_loader

    loader, batches = training_loader(reopened.x_train, reopened.y_train, 8, workers=0, pin_memory=False)
    batches.new_epoch(torch.Generator().manual_seed(0))
    images, labels = next(iter(loader))
    assert images.shape == (8, *reopened.input_shape) and len(decodes) == 8  # one batch decoded, no more


def test_the_streamed_statistics_equal_numpys_on_the_whole_array(folder):
    data = load_image_folder(folder, cache_bytes=LAZY)
    raw = FolderImages(data.x_train.files, data.x_train.size, data.x_train.channels)  # not normalised
    whole = np.stack([raw[index] for index in range(len(raw))]).astype(np.float64)
    mean, std = streamed_statistics(raw, raw.channels)
    np.testing.assert_allclose(mean, whole.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, whole.std(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(data.preprocessing["mean"], mean, rtol=0)


def test_training_and_evaluation_give_the_same_weights_and_accuracy_lazy_with_a_worker_and_in_memory(tmp_path,
                                                                                                      folder):
    from nas.models.evaluate import subnet_accuracy
    from nas.training.train import TrainingConfig, train_supernet
    from search_spaces import create_space

    lazy, held = load_image_folder(folder, image_size=8, cache_bytes=LAZY), load_image_folder(folder, image_size=8)
    space = create_space("vit", **held.space_arguments(), embed_dim_choices=[16, 24], num_heads_choices=[1, 2],
                         depth_choices=[1, 2])
    states = []
    for name, data, workers in (("lazy", lazy, 1), ("held", held, 0)):
        config = TrainingConfig(epochs=2, batch_size=16, threads=2, device="cpu", loader_workers=workers)
        states.append(train_supernet(space, data, tmp_path / f"{name}.pt", config, progress=False))
    for name, tensor in states[0]["model"].items():
        assert torch.equal(tensor, states[1]["model"][name]), name
    assert states[0]["history"] == [{**record, "train_seconds": states[0]["history"][index]["train_seconds"]}
                                    for index, record in enumerate(states[1]["history"])]
    supernet = space.build_supernet()
    supernet.load_state_dict(states[0]["model"])
    accuracies = [subnet_accuracy(space, supernet, space.smallest(), data.x_test, data.y_test, data.x_train)
                  for data in (lazy, held)]
    assert accuracies[0] == accuracies[1]


def test_a_bad_cache_size_is_one_line(folder, monkeypatch):
    monkeypatch.setenv("HWNAS_IMAGE_CACHE_MB", "lots")
    with pytest.raises(HwnasError, match="HWNAS_IMAGE_CACHE_MB must be a number of megabytes from 0"):
        load_image_folder(folder)
    monkeypatch.setenv("HWNAS_IMAGE_CACHE_MB", "0")
    assert isinstance(load_image_folder(folder).x_train, FolderImages)
