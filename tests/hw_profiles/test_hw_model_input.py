"""InputSpec: what a backend feeds a timed model (float noise, or integer ids in a range)."""

import numpy as np
import pytest

from hw_profiles import InputSpec
from hw_profiles.model_input import as_input_spec


def test_a_bare_shape_is_the_float_noise_backends_always_fed():
    spec = as_input_spec((1, 4, 4))
    assert spec == InputSpec((1, 4, 4)) and not spec.is_integer
    np.testing.assert_array_equal(spec.sample(2), np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32))
    assert as_input_spec(spec) is spec


def test_integer_ids_stay_in_their_range_and_are_seeded():
    spec = InputSpec((16,), "int64", low=1, high=5)
    sample = spec.sample(100)
    assert sample.dtype == np.int64 and sample.shape == (100, 16)
    assert sample.min() == 1 and sample.max() == 4
    np.testing.assert_array_equal(sample, spec.sample(100))
    assert "int64 in [1, 5)" in str(spec)


@pytest.mark.parametrize("arguments,error", [
    ({"dtype": "int64"}, "needs a range"),
    ({"dtype": "int64", "low": 3, "high": 3}, "needs a range"),
    ({"dtype": "bool"}, "float or integer"),
])
def test_bad_specs_are_refused(arguments, error):
    with pytest.raises(ValueError, match=error):
        InputSpec((4,), **arguments)
