"""Issue #24 (4): an `.npz` data set is refused in one line when its numbers or labels cannot train."""

import numpy as np
import pytest

from nas.data import load_dataset
from nas.errors import HwnasError


def images(classes=3, per_class=10, size=4, seed=0):
    generator = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    return generator.random((len(labels), size, size)).astype(np.float32), labels


def tokens(classes=2, per_class=10, seed=0):
    generator = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    return generator.integers(1, 50, size=(len(labels), 6)), labels


def refused(tmp_path, message, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(HwnasError, match=message) as caught:
        load_dataset(str(path))
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pixel_is_refused(tmp_path, bad):
    x, y = images()
    x[3, 1, 2] = bad
    refused(tmp_path, r"'x' holds 1 value\(s\) that are not finite", x=x, y=y)


def test_labels_must_be_0_to_k_minus_1_without_gaps(tmp_path):
    x, y = images(classes=2)
    y = np.where(y == 1, 9999, 0)
    refused(tmp_path, r"labels must be 0\.\.K-1 with every class present.*largest label is 9999 but 9998 class\(es\) are missing \(first: 1, 2", x=x, y=y)


@pytest.mark.parametrize("count", [1, 2])
def test_a_class_with_fewer_than_3_samples_is_refused(tmp_path, count):
    x, y = images(classes=3)
    keep = np.concatenate([np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:count]])
    refused(tmp_path, rf"class 2 has {count} sample\(s\); every class needs at least 3", x=x[keep], y=y[keep])


def test_a_single_class_is_refused(tmp_path):
    x, y = images(classes=1)
    refused(tmp_path, "at least 2 classes", x=x, y=y)


def test_token_labels_are_checked_the_same_way(tmp_path):
    ids, labels = tokens()
    refused(tmp_path, r"labels must be 0\.\.K-1", input_ids=ids, labels=np.where(labels == 1, 5, 0))
    refused(tmp_path, r"class 1 has 1 sample", input_ids=ids[:11], labels=labels[:11])


def test_an_empty_image_set_is_refused(tmp_path):
    refused(tmp_path, "no samples", x=np.zeros((0, 4, 4), np.float32), y=np.zeros(0, np.int64))


def test_a_good_set_still_loads(tmp_path):
    x, y = images()
    path = tmp_path / "good.npz"
    np.savez(path, x=x, y=y)
    data = load_dataset(str(path))
    assert data.num_classes == 3 and np.isfinite(data.x_train).all()
