"""What a timed model is fed: a seeded synthetic input of the model's shape and type.

A space that takes images gives only a shape (float32, random-normal values). One that takes token ids
says so with an `InputSpec` of an integer dtype and the [low, high) range of valid ids, so every
backend feeds in-range integers of the right type. hw_profiles knows nothing of spaces: the caller
(nas.profiling.profiler) builds the spec from what its space reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_SEED = 0


@dataclass(frozen=True)
class InputSpec:
    """One sample of a model's single input (no batch dimension)."""

    shape: tuple[int, ...]
    dtype: str = "float32"  # numpy name: a float type (random-normal values) or an integer type
    low: int = 0  # integer inputs: values drawn uniformly from [low, high)
    high: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(size) for size in self.shape))
        kind = np.dtype(self.dtype).kind  # raises TypeError on an unknown name
        if kind not in "fiu":
            raise ValueError(f"input dtype must be a float or integer type, got {self.dtype!r}")
        if kind in "iu" and (self.high is None or self.high <= self.low):
            raise ValueError(f"an integer input needs a range low < high, got [{self.low}, {self.high})")

    @property
    def is_integer(self) -> bool:
        return np.dtype(self.dtype).kind in "iu"

    def sample(self, batch_size: int, seed: int = INPUT_SEED) -> np.ndarray:
        """A seeded input of shape (batch_size, *shape) and this dtype."""
        rng = np.random.default_rng(seed)
        shape = (batch_size, *self.shape)
        if self.is_integer:
            return rng.integers(self.low, self.high, size=shape).astype(self.dtype)
        return rng.standard_normal(shape).astype(self.dtype)

    def __str__(self) -> str:
        return str(self.shape) if not self.is_integer else f"{self.shape} {self.dtype} in [{self.low}, {self.high})"


def as_input_spec(value: tuple[int, ...] | InputSpec) -> InputSpec:
    """An InputSpec from a spec, or from a bare shape (a float32 input, as before specs existed)."""
    return value if isinstance(value, InputSpec) else InputSpec(tuple(value))
