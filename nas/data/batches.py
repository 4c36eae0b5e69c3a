"""A split's inputs, batch by batch, whatever holds them: an in-memory array (sliced) or a lazy
`torch.utils.data.Dataset` of samples (read through a DataLoader, so a split never has to fit in memory).

Everything that reads a whole split (validation, the search's accuracy evaluations, BatchNorm
recalibration, export's accuracy checks) reads it through `input_batches`; the two kinds give the same
batches, value for value.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np


def input_batches(inputs: Any, batch_size: int, workers: int = 0) -> Iterator[np.ndarray]:
    """Consecutive batches of `inputs` (in order, the last one shorter) as numpy arrays."""
    if isinstance(inputs, np.ndarray):
        for start in range(0, len(inputs), batch_size):
            yield inputs[start:start + batch_size]
        return
    from torch.utils.data import DataLoader

    for batch in DataLoader(inputs, batch_size=batch_size, shuffle=False, num_workers=workers):
        yield batch.numpy()


def first_inputs(inputs: Any, count: int) -> np.ndarray:
    """The first `count` samples of `inputs` (fewer when it holds fewer) as one array."""
    if isinstance(inputs, np.ndarray):
        return inputs[:count]
    return np.stack([np.asarray(inputs[index]) for index in range(min(count, len(inputs)))])

