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
    input_side: int | None = None  # side the input is resized to before the stem (None: as given)
    position_side: int | None = None  # side of the learnt position grid, resized to the tokens' (None: theirs)

    @property
    def positions(self) -> int:
        """Learnt positions the network holds."""
        return self.position_side ** 2 if self.position_side else self.tokens


def resized_input(images: Tensor, shape: ViTShape) -> Tensor:
    """The images at the network's resolution (bilinear), or as given."""
    if shape.input_side is None or images.shape[-1] == shape.input_side:
        return images
    return F.interpolate(images, size=(shape.input_side, shape.input_side), mode="bilinear", align_corners=False)


def token_positions(pos_embed: Tensor, shape: ViTShape) -> Tensor:
    """The learnt positions at the token grid: the position grid resized (bilinear) where it is larger."""
    if shape.position_side is None:
        return pos_embed
    side, grid = shape.position_side, int(round(shape.tokens ** 0.5))
    embed = pos_embed.shape[-1]
    grid_first = pos_embed.reshape(1, side, side, embed).permute(0, 3, 1, 2)
    resized = F.interpolate(grid_first, size=(grid, grid), mode="bilinear", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(1, grid * grid, embed)


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
    x = x.flatten(2).transpose(1, 2) + token_positions(params["pos_embed"], shape)
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
        self._make_stack(shape.positions, shape.embed_dim, shape.blocks, shape.num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return vit_forward(self.stem(resized_input(images, self.shape)), dict(self.named_parameters()), self.shape)


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
        return vit_forward(self.stem(resized_input(images, shape)), self.sliced_parameters(shape), shape)

    @torch.no_grad()
    def extract(self, config: Mapping[str, Any]) -> ViTNetwork:
        """A new static network with copies of the active weights; no reference to the supernet."""
        shape = self.space.shape(config)
        stem = {f"stem.{name}": value for name, value in self.stem.state_dict().items()}
        return load_copies(ViTNetwork(shape), {**self.sliced_parameters(shape), **stem})
