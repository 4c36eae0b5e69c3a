"""`Dataset`: the arrays of one data set with its fixed split, and `DATASETS`, the registry of built-in
data sets (a loader function per name: ``@DATASETS.register("mnist5k")``).

Every data set comes with a fixed, seeded, stratified train / validation / test split, so the
accuracies in a run folder are reproducible and comparable across runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from nas.registry import Registry

SPLIT_SEED = 0  # the split never changes with the run's seed
MIN_SAMPLES_PER_CLASS = 3  # the stratified split puts one in each of train, validation and test

# name -> loader() returning a Dataset; built-ins register in nas/data/images.py and nas/data/text.py
DATASETS: Registry = Registry("dataset")
register_dataset = DATASETS.register


@dataclass(frozen=True)
class Dataset:
    """Inputs (images: (samples, channels, height, width) float32; token ids: (samples, length) int64) and
    int64 labels, with what a space needs to know about the inputs and how to augment them. Inputs are
    arrays, or for an image folder too large to hold lazy `torch.utils.data.Dataset`s of samples with the
    array's `shape` and `dtype` (nas.data.folder_images); read a split batch by batch with
    nas.data.batches.input_batches, never as one array."""

    name: str
    x_train: Any  # np.ndarray, or a Dataset of samples decoded when read
    y_train: np.ndarray
    x_val: Any
    y_val: np.ndarray
    x_test: Any
    y_test: np.ndarray
    num_classes: int
    # space arguments that describe the inputs (None: image_size and in_channels, from the image arrays)
    input_arguments: dict[str, Any] | None = None
    # augmentation(batch tensor, torch.Generator) -> batch, applied to training batches (None: no augmentation)
    augmentation: Callable[[Any, Any], Any] | None = field(default=None, compare=False)
    # the name of each class, by label (an image folder's class folders; None: the labels are the names)
    class_names: tuple[str, ...] | None = None
    # how the arrays were made from the files (image size, channels, mean/std): recorded in run.json
    preprocessing: dict[str, Any] | None = field(default=None, compare=False)
    # word -> token id of a text data set that was tokenized here (written into the run as vocab.json)
    vocabulary: dict[str, int] | None = field(default=None, compare=False, repr=False)

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


def checked_labels(name: str, labels: Any, count: int) -> np.ndarray:
    """`labels` as int64 if they are `count` integer labels 0..K-1 (K >= 2) with every class present and at
    least MIN_SAMPLES_PER_CLASS samples each; HwnasError (one line) otherwise."""
    from nas.errors import HwnasError

    labels = np.asarray(labels)
    if count == 0:
        raise HwnasError(f"dataset {name!r} has no samples")
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise HwnasError(f"dataset {name!r}: labels must be {count} integers, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if labels.min() < 0:
        raise HwnasError(f"dataset {name!r}: labels must be 0..K-1, got {int(labels.min())}")
    present = np.unique(labels)
    classes = int(present[-1]) + 1
    if len(present) != classes:
        candidates = np.arange(min(classes, len(present) + 5))  # holds the first five missing labels
        missing = ", ".join(str(int(label)) for label in np.setdiff1d(candidates, present)[:5])
        raise HwnasError(f"dataset {name!r}: labels must be 0..K-1 with every class present; the largest label "
                         f"is {classes - 1} but {classes - len(present)} class(es) are missing (first: {missing})")
    if classes < 2:
        raise HwnasError(f"dataset {name!r}: labels must hold at least 2 classes, got only class 0")
    counts = np.bincount(labels.astype(np.int64), minlength=classes)
    if counts.min() < MIN_SAMPLES_PER_CLASS:
        smallest = int(counts.argmin())
        raise HwnasError(f"dataset {name!r}: class {smallest} has {int(counts[smallest])} sample(s); every class "
                         f"needs at least {MIN_SAMPLES_PER_CLASS} (one each for train, validation and test)")
    return labels.astype(np.int64)


def split_indices(labels: np.ndarray, test_fraction: float = 0.2,
                  val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the fixed, seeded, stratified train / validation / test split."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(labels))
    rest, test = train_test_split(everything, test_size=test_fraction, stratify=labels, random_state=SPLIT_SEED)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest],
                                  random_state=SPLIT_SEED)
    return train, val, test
