"""The ViT network of the `vit` space: a static network and its weight-sharing supernet.

Both run `vit_forward` on a dict of parameters named as in the static network's state dict; the
supernet hands it slices of its largest weights, so `supernet.extract(config)` is a plain copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.quantization.precision_network import PrecisionBlocksMixin
from search_spaces.transformer import (
    LAYER_NORM_EPS,
    LINEAR_LAYERS,
    BlockShape,
    TransformerNetworkParts,
    TransformerSupernetMixin,
    blocks_forward,
)
from search_spaces.weight_sharing import load_copies
from search_spaces.weight_slice import WeightSlice, full_slice, prefix_slice


@dataclass(frozen=True)
class ViTShape:
    """The active size of a whole ViT."""

    in_channels: int  # image channels
    stem_channels: int  # channels of the convolutional stem (0: no stem)
    stem_stride: int  # stride of the stem's second convolution (1 or 2)
    patch_size: int  # side of a square patch, on the stem's output
    tokens: int  # number of patches
    embed_dim: int  # residual stream width
    blocks: tuple[BlockShape, ...]  # one per active block
    num_classes: int


class ConvStem(nn.Sequential):
    """Two 3x3 convolutions with BatchNorm: early convolutions make ViTs train fast on small data.
    The stem is not elastic, so its BatchNorm statistics are the same for every sub-network."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.GELU(),
            nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.GELU())


def vit_forward(features: Tensor, params: Mapping[str, Tensor], shape: ViTShape) -> Tensor:
    """Logits for the stem's output `features` (batch, channels, height, width)."""
    x = F.conv2d(features, params["patch_embed.weight"], params["patch_embed.bias"], stride=shape.patch_size)
    x = x.flatten(2).transpose(1, 2) + params["pos_embed"]
    x = blocks_forward(x, params, shape.blocks)
    x = F.layer_norm(x, (shape.embed_dim,), params["norm.weight"], params["norm.bias"], LAYER_NORM_EPS)
    return F.linear(x.mean(dim=1), params["head.weight"], params["head.bias"])


class ViTNetwork(PrecisionBlocksMixin, TransformerNetworkParts, nn.Module):
    """A static ViT of one shape: what `extract` returns and what is exported."""

    quantized_layers = LINEAR_LAYERS

    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.shape = shape
        patch_in = shape.stem_channels or shape.in_channels
        self.stem = ConvStem(shape.in_channels, shape.stem_channels, shape.stem_stride) if shape.stem_channels \
            else nn.Identity()
        self.patch_embed = nn.Conv2d(patch_in, shape.embed_dim, shape.patch_size, stride=shape.patch_size)
        self._make_stack(shape.tokens, shape.embed_dim, shape.blocks, shape.num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return vit_forward(self.stem(images), dict(self.named_parameters()), self.shape)


class ViTSupernet(TransformerSupernetMixin, ViTNetwork):
    """The largest ViT; `forward(images, config)` runs any sub-network of its space on weight slices."""

    def _front_slices(self, shape: ViTShape) -> dict[str, WeightSlice]:
        embed = shape.embed_dim
        return {"patch_embed.weight": prefix_slice("patch_embed.weight", (embed, *self.patch_embed.weight.shape[1:])),
                "patch_embed.bias": prefix_slice("patch_embed.bias", (embed,))}

    def _whole_slices(self) -> dict[str, WeightSlice]:
        """The conv stem is not elastic: every sub-network takes it whole."""
        return {f"stem.{name}": full_slice(f"stem.{name}", tuple(value.shape))
                for name, value in self.stem.state_dict().items()}

    def forward(self, images: Tensor, config: Mapping[str, Any] | None = None) -> Tensor:
        shape = self.shape if config is None else self.space.shape(config)
        return vit_forward(self.stem(images), self.sliced_parameters(shape), shape)

    @torch.no_grad()
    def extract(self, config: Mapping[str, Any]) -> ViTNetwork:
        """A new static network with copies of the active weights; no reference to the supernet."""
        shape = self.space.shape(config)
        stem = {f"stem.{name}": value for name, value in self.stem.state_dict().items()}
        return load_copies(ViTNetwork(shape), {**self.sliced_parameters(shape), **stem})
