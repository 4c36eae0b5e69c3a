"""The network of the `text_encoder` space: a transformer encoder over token ids, static and weight-sharing.

Its blocks are `search_spaces.transformer`'s, the same elastic blocks as the ViT's. Token id 0 is
padding: attention leaves padding keys out (`search_spaces.attention`, for every attention kind) and the
mean pooling skips them, so appending padding never changes the logits. One input (the ids), so the exported model
has one int64 input of shape (batch, input length); a network that reads fewer tokens (the space's `max_length`
choice) keeps the first `shape.max_length` of them.
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
from search_spaces.weight_slice import WeightSlice, prefix_slice

PAD_ID = 0


@dataclass(frozen=True)
class TextEncoderShape:
    """The active size of a whole encoder."""

    vocab_size: int  # token ids are 0 (padding) .. vocab_size - 1
    max_length: int  # tokens the network reads per sequence (the first of its input)
    embed_dim: int
    blocks: tuple[BlockShape, ...]
    num_classes: int


def text_forward(ids: Tensor, params: Mapping[str, Tensor], shape: TextEncoderShape) -> Tensor:
    """Logits for token ids (batch, input length >= shape.max_length): the first `shape.max_length` are read."""
    if ids.shape[1] > shape.max_length:
        ids = ids[:, :shape.max_length]
    keep = (ids != PAD_ID).to(params["pos_embed"].dtype)  # (batch, tokens): 1 for real tokens
    x = F.embedding(ids, params["token_embed.weight"]) + params["pos_embed"]
    x = blocks_forward(x, params, shape.blocks, keep)
    x = F.layer_norm(x, (shape.embed_dim,), params["norm.weight"], params["norm.bias"], LAYER_NORM_EPS)
    pooled = (x * keep[:, :, None]).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)
    return F.linear(pooled, params["head.weight"], params["head.bias"])


class TextEncoderNetwork(PrecisionBlocksMixin, TransformerNetworkParts, nn.Module):
    """A static encoder of one shape: what `extract` returns and what is exported."""

    quantized_layers = LINEAR_LAYERS
    input_dtype = "int64"

    def __init__(self, shape: TextEncoderShape) -> None:
        super().__init__()
        self.shape = shape
        self.token_embed = nn.Embedding(shape.vocab_size, shape.embed_dim)
        nn.init.trunc_normal_(self.token_embed.weight, std=0.02)
        self._make_stack(shape.max_length, shape.embed_dim, shape.blocks, shape.num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        return text_forward(ids, dict(self.named_parameters()), self.shape)


class TextEncoderSupernet(TransformerSupernetMixin, TextEncoderNetwork):
    """The largest encoder; `forward(ids, config)` runs any sub-network of its space on weight slices."""

    def _positions(self, shape: TextEncoderShape) -> int:
        return shape.max_length  # the first positions: a network reading fewer tokens has fewer

    def _front_slices(self, shape: TextEncoderShape) -> dict[str, WeightSlice]:
        return {"token_embed.weight": prefix_slice("token_embed.weight",
                                                   (self.token_embed.weight.shape[0], shape.embed_dim))}

    def forward(self, ids: Tensor, config: Mapping[str, Any] | None = None) -> Tensor:
        shape = self.shape if config is None else self.space.shape(config)
        return text_forward(ids, self.sliced_parameters(shape), shape)

    @torch.no_grad()
    def extract(self, config: Mapping[str, Any]) -> TextEncoderNetwork:
        """A new static network with copies of the active weights; no reference to the supernet."""
        shape = self.space.shape(config)
        return load_copies(TextEncoderNetwork(shape), self.sliced_parameters(shape))
