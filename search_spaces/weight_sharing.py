"""Helpers every weight-sharing family uses to run a static network's arithmetic on a supernet's slices
and to extract a sub-network as a plain copy."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn


def prefixed(params: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of `params` under `prefix`, with the prefix taken off their names."""
    return {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}


def load_copies(network: nn.Module, tensors: Mapping[str, Tensor]) -> nn.Module:
    """`network` (in eval mode) holding copies of `tensors`, a complete state dict: no reference to
    the supernet they were sliced from remains."""
    with torch.no_grad():
        network.load_state_dict({name: value.detach().clone() for name, value in tensors.items()}, strict=True)
    return network.eval()
