"""Light image augmentation for supernet training: small random rotation, scale and shift."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(images: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
                  scale: float = 0.1, shift: float = 0.1) -> torch.Tensor:
    """Each image warped by its own random affine map; the border is filled with the background."""
    count = images.shape[0]
    uniform = lambda *shape: torch.rand(*shape, generator=generator) * 2 - 1  # noqa: E731
    angle = uniform(count) * math.radians(degrees)
    factor = 1 + uniform(count) * scale
    offset = uniform(count, 2) * shift
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin()
    return F.grid_sample(images - background, grid, align_corners=False) + background
