"""`WeightSlice`: where one tensor of an extracted network comes from in its supernet, as data.

A supernet that extracts by copying slices of its largest weights describes each copy as a
`WeightSlice`: the supernet tensor (by state-dict name), an optional view of it, and one
``(start, stop)`` range per dimension of that view. The slice, reshaped to the static tensor's
shape, is the static tensor. First-k channels are ``(0, k)``; a centre crop of a kernel is
``(offset, offset + k)``; a head-major QKV weight is sliced through a ``(3, heads, head_dim, embed)``
view. Being plain data, slices can be stored: the elastic bundle keeps the union of its variants'
slices of each supernet tensor once, and rebuilds every variant from it with no supernet code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class WeightSlice:
    """`source.view(view)[ranges]`, reshaped to `shape`: one tensor of an extracted network."""

    source: str  # state-dict name of the supernet tensor
    ranges: tuple[tuple[int, int], ...]  # (start, stop) per dimension of the view
    shape: tuple[int, ...]  # shape of the static network's tensor
    view: tuple[int, ...] | None = None  # view of the supernet tensor that `ranges` index (None: as it is)

    def apply(self, tensor: Any) -> Any:
        """The slice of `tensor` (the supernet's `source`) as a tensor of `shape`; a view where possible."""
        viewed = tensor if self.view is None else tensor.view(self.view)
        return viewed[tuple(slice(start, stop) for start, stop in self.ranges)].reshape(self.shape)

    def mask(self, source_shape: tuple[int, ...]) -> Any:
        """Boolean tensor of `source_shape`: True where the slice reads the supernet tensor."""
        import torch

        mask = torch.zeros(source_shape, dtype=torch.bool)
        viewed = mask if self.view is None else mask.view(self.view)
        viewed[tuple(slice(start, stop) for start, stop in self.ranges)] = True
        return mask

    def check(self, source_shape: tuple[int, ...]) -> None:
        """ValueError unless the slice lies inside a tensor of `source_shape` and fills `shape` exactly."""
        view = tuple(source_shape) if self.view is None else self.view
        if math.prod(view) != math.prod(source_shape) or len(self.ranges) != len(view):
            raise ValueError(f"slice of {self.source!r}: view {list(view)} does not fit its shape {list(source_shape)}")
        for (start, stop), size in zip(self.ranges, view):
            if not 0 <= start < stop <= size:
                raise ValueError(f"slice of {self.source!r}: range {start}:{stop} is outside 0:{size}")
        taken = math.prod(stop - start for start, stop in self.ranges)
        if taken != math.prod(self.shape):
            raise ValueError(f"slice of {self.source!r} takes {taken} values; its shape {list(self.shape)} "
                             f"holds {math.prod(self.shape)}")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ranges": [list(r) for r in self.ranges], "shape": list(self.shape),
                "view": None if self.view is None else list(self.view)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WeightSlice":
        """Inverse of `to_dict`; a malformed entry raises ValueError naming the field."""
        try:
            ranges = tuple((int(start), int(stop)) for start, stop in data["ranges"])
            view = None if data.get("view") is None else tuple(int(size) for size in data["view"])
            return cls(source=str(data["source"]), ranges=ranges, shape=tuple(int(s) for s in data["shape"]),
                       view=view)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed weight slice {dict(data)!r}: {error}") from None


def full_slice(source: str, shape: tuple[int, ...]) -> WeightSlice:
    """The whole supernet tensor `source` (a layer that is not elastic)."""
    return WeightSlice(source, tuple((0, size) for size in shape), tuple(shape))


def prefix_slice(source: str, sizes: tuple[int, ...], view: tuple[int, ...] | None = None,
                 shape: tuple[int, ...] | None = None) -> WeightSlice:
    """The first `sizes[d]` entries of each dimension d (of `view`, if given), reshaped to `shape`."""
    return WeightSlice(source, tuple((0, size) for size in sizes), tuple(shape or sizes), view)
