"""BatchNorm in weight-sharing supernets: an elastic layer that normalises the first-k channels, and the
re-estimation of running statistics for one extracted sub-network.

While a supernet trains, every sub-network it samples updates the same running statistics, so after
training they fit no sub-network in particular (the mean of a layer's input depends on which channels
and kernels are active before it). Once-for-all's answer, used here: before a sub-network is evaluated
or exported, its statistics are re-estimated on a few training batches (`recalibrate_batch_norm`).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d of the largest width that normalises an input of any smaller width with the first
    channels of its affine parameters and running statistics (views: training updates them in place)."""

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        if channels == self.num_features:
            return super().forward(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean[:channels], self.running_var[:channels], self.weight[:channels],
                            self.bias[:channels], self.training or not self.track_running_stats, momentum, self.eps)

    def sliced_state(self, channels: int) -> dict[str, Tensor]:
        """The state dict of a BatchNorm2d(`channels`) made of this layer's first channels."""
        return {"weight": self.weight[:channels], "bias": self.bias[:channels],
                "running_mean": self.running_mean[:channels], "running_var": self.running_var[:channels],
                "num_batches_tracked": self.num_batches_tracked}


@torch.no_grad()
def recalibrate_batch_norm(network: nn.Module, batches: Iterable[Any]) -> int:
    """Replace the running statistics of every BatchNorm layer of `network` by their average over
    `batches` (input tensors, run in training mode without gradients); returns the number of batches.
    The network is left in eval mode; a network without BatchNorm is left unchanged."""
    norms = [module for module in network.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: every batch counts equally
    network.train()
    count = 0
    try:
        for batch in batches:
            network(batch)
            count += 1
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        network.eval()
    if not count:
        raise ValueError("recalibrate_batch_norm needs at least one batch")
    return count
