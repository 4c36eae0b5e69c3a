"""Training batches through `torch.utils.data`: a Dataset over the training split (an array, or a lazy
Dataset of samples such as an image folder's, decoded per item), read by a DataLoader whose sampler yields
whole batches of indices; with `--loader-workers N` the workers read (decode) the batches ahead.

The epoch's order is `torch.randperm` on the training generator, drawn before the epoch's first batch,
exactly as the loop drew it before the DataLoader existed: one process gets the same batches as before
for the same seed. With N ranks, global batch b is `order[b*B:(b+1)*B]` and rank r reads the r-th of its
N near-equal contiguous shards (`tensor_split`).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class TrainingArrays(Dataset):
    """The training split's inputs and labels; an item is a whole batch (a tensor of indices). Inputs held as
    an array are indexed at once; a lazy Dataset's samples are read one by one and stacked."""

    def __init__(self, inputs: Any, labels: Any) -> None:
        self.inputs = torch.from_numpy(inputs) if isinstance(inputs, np.ndarray) else inputs
        self.labels = torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs[index], self.labels[index]
        samples = np.stack([np.asarray(self.inputs[position]) for position in index.tolist()])
        return torch.from_numpy(samples), self.labels[index]


class ShardedBatches(Sampler):
    """One item per step: this rank's shard of the step's global batch of the current epoch's order."""

    def __init__(self, size: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.batch_size, self.rank, self.world_size = size, batch_size, rank, world_size
        self.order: torch.Tensor | None = None

    def new_epoch(self, generator: torch.Generator) -> None:
        self.order = torch.randperm(self.size, generator=generator)

    def global_batch(self, step: int) -> torch.Tensor:
        return self.order[step * self.batch_size:(step + 1) * self.batch_size]

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for step in range(len(self)):
            yield self.global_batch(step).tensor_split(self.world_size)[self.rank]


def training_loader(inputs: Any, labels: Any, batch_size: int, workers: int, pin_memory: bool,
                    rank: int = 0, world_size: int = 1) -> tuple[DataLoader, ShardedBatches]:
    """(loader, its batch sampler): call `sampler.new_epoch(generator)` before iterating each epoch."""
    sampler = ShardedBatches(len(labels), batch_size, rank, world_size)
    loader = DataLoader(TrainingArrays(inputs, labels), sampler=sampler, batch_size=None, num_workers=workers,
                        pin_memory=pin_memory, persistent_workers=workers > 0)
    return loader, sampler
