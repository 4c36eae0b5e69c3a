import numpy as np
import pytest

from nas.data import load_dataset
from nas.errors import HwnasError


def test_digits_split_is_fixed_and_disjoint(digits):
    again = load_dataset("digits")
    np.testing.assert_array_equal(digits.y_test, again.y_test)
    assert len(digits.y_train) + len(digits.y_val) + len(digits.y_test) == 1797
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.space_arguments() == {"image_size": 8, "in_channels": 1, "num_classes": 10}


def test_mnist5k_is_the_real_shipped_data():
    data = load_dataset("mnist5k")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (3500, 500, 1000)
    assert data.input_shape == (1, 28, 28)
    counts = np.bincount(np.concatenate([data.y_train, data.y_val, data.y_test]))
    assert counts.tolist() == [500] * 10
    assert np.bincount(data.y_test).tolist() == [100] * 10


def test_user_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.random((200, 12, 12)), y=np.repeat(np.arange(4), 50))
    data = load_dataset(str(path))
    assert data.input_shape == (1, 12, 12) and data.num_classes == 4
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=rng.random((10, 4, 4)))
    with pytest.raises(HwnasError, match="must hold arrays 'x' and 'y'"):
        load_dataset(str(bad))
    with pytest.raises(HwnasError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.npz"))
    with pytest.raises(HwnasError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
