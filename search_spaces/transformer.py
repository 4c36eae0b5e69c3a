"""Transformer encoder blocks, shared by every transformer family.

One functional forward (`block_forward`) serves both the static block of an extracted network and
the elastic block of a supernet, which hands it slices of its largest weights. Because both run the
same arithmetic, an extracted network reproduces the supernet's output under its config.

Elastic dimensions of a block: the embedding width (first-k channels), the number of attention heads
(first-k heads of a fixed head width) and the MLP hidden width (first-k hidden units, MatFormer-style
nested feed-forward). A block also has a precision: its four linear layers (QKV, projection, MLP up and
down) run at fp32 or, fake-quantized, as the block's int8 scheme (or int4's MatMulNBits) executes them; and an attention kind
(`search_spaces.attention`: softmax or linear), which changes the arithmetic between QKV and the
projection but no weight, so every kind shares the block's weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.attention import attention_kind
from search_spaces.quantization import precision_linear
from search_spaces.weight_sharing import prefixed
from search_spaces.weight_slice import WeightSlice, prefix_slice

LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class BlockShape:
    """The active size of one block."""

    embed_dim: int  # width of the residual stream
    num_heads: int  # attention heads
    head_dim: int  # width of one head (fixed per space)
    mlp_hidden: int  # hidden units of the feed-forward layer
    precision: str = "fp32"  # of the block's linear layers: "fp32", "int8" or "int4"
    int8_scheme: str = "ort-dynamic"  # how int8 layers are executed (search_spaces.quantization)
    int4_block_size: int = 32  # int4 layers: weights per scale along the input (MatMulNBits' block_size)
    attention: str = "softmax"  # the attention kind (search_spaces.attention), always fp32

    @property
    def attention_dim(self) -> int:
        return self.num_heads * self.head_dim


LINEAR_LAYERS = ("qkv", "proj", "fc1", "fc2")  # the layers a block's precision applies to


def block_forward(x: Tensor, params: dict[str, Tensor], shape: BlockShape, key_mask: Tensor | None = None) -> Tensor:
    """Pre-norm transformer block on tokens `x` of shape (batch, tokens, embed_dim). `key_mask` (batch,
    tokens): 1 for real tokens, 0 for padding keys, which attention leaves out."""

    def linear(inputs: Tensor, name: str) -> Tensor:
        return precision_linear(inputs, params[f"{name}.weight"], params[f"{name}.bias"], shape.precision,
                                shape.int8_scheme, shape.int4_block_size)

    batch, tokens, _ = x.shape
    hidden = F.layer_norm(x, (shape.embed_dim,), params["norm1.weight"], params["norm1.bias"], LAYER_NORM_EPS)
    qkv = linear(hidden, "qkv")
    qkv = qkv.reshape(batch, tokens, 3, shape.num_heads, shape.head_dim).permute(2, 0, 3, 1, 4)
    query, key, value = qkv[0], qkv[1], qkv[2]
    attended = attention_kind(shape.attention).forward(query, key, value, key_mask)
    attended = attended.transpose(1, 2).reshape(batch, tokens, shape.attention_dim)
    x = x + linear(attended, "proj")
    hidden = F.layer_norm(x, (shape.embed_dim,), params["norm2.weight"], params["norm2.bias"], LAYER_NORM_EPS)
    hidden = F.gelu(linear(hidden, "fc1"))
    return x + linear(hidden, "fc2")


def _init_linear(layer: nn.Linear) -> nn.Linear:
    nn.init.trunc_normal_(layer.weight, std=0.02)
    nn.init.zeros_(layer.bias)
    return layer


class TransformerBlock(nn.Module):
    """A static block of one fixed shape (what an extracted network holds)."""

    def __init__(self, shape: BlockShape) -> None:
        super().__init__()
        self.shape = shape
        self.norm1 = nn.LayerNorm(shape.embed_dim, eps=LAYER_NORM_EPS)
        self.qkv = _init_linear(nn.Linear(shape.embed_dim, 3 * shape.attention_dim))
        self.proj = _init_linear(nn.Linear(shape.attention_dim, shape.embed_dim))
        self.norm2 = nn.LayerNorm(shape.embed_dim, eps=LAYER_NORM_EPS)
        self.fc1 = _init_linear(nn.Linear(shape.embed_dim, shape.mlp_hidden))
        self.fc2 = _init_linear(nn.Linear(shape.mlp_hidden, shape.embed_dim))

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        return block_forward(x, dict(self.named_parameters()), self.shape, key_mask)


class ElasticTransformerBlock(TransformerBlock):
    """The largest block; runs any smaller shape on slices of its weights."""

    def weight_slices(self, shape: BlockShape) -> dict[str, WeightSlice]:
        """Where each tensor of a static block of `shape` lies in this block's weights (names as in its
        state dict): the first-k embedding channels, the first-k heads (of `qkv`, through a
        `(3, heads, head_dim, embed)` view) and the first-k MLP hidden units."""
        largest = self.shape
        embed, attention, hidden = shape.embed_dim, shape.attention_dim, shape.mlp_hidden
        qkv_view = (3, largest.num_heads, largest.head_dim, largest.embed_dim)
        return {
            "norm1.weight": prefix_slice("norm1.weight", (embed,)),
            "norm1.bias": prefix_slice("norm1.bias", (embed,)),
            "qkv.weight": prefix_slice("qkv.weight", (3, shape.num_heads, largest.head_dim, embed), qkv_view,
                                       (3 * attention, embed)),
            "qkv.bias": prefix_slice("qkv.bias", (3, shape.num_heads, largest.head_dim), qkv_view[:3],
                                     (3 * attention,)),
            "proj.weight": prefix_slice("proj.weight", (embed, attention)),
            "proj.bias": prefix_slice("proj.bias", (embed,)),
            "norm2.weight": prefix_slice("norm2.weight", (embed,)),
            "norm2.bias": prefix_slice("norm2.bias", (embed,)),
            "fc1.weight": prefix_slice("fc1.weight", (hidden, embed)),
            "fc1.bias": prefix_slice("fc1.bias", (hidden,)),
            "fc2.weight": prefix_slice("fc2.weight", (embed, hidden)),
            "fc2.bias": prefix_slice("fc2.bias", (embed,)),
        }

    def sliced_parameters(self, shape: BlockShape) -> dict[str, Tensor]:
        """The parameters of a static block of `shape`, named as in its state dict (views, no copy)."""
        parameters = dict(self.named_parameters())
        return {name: part.apply(parameters[part.source]) for name, part in self.weight_slices(shape).items()}

    def forward_elastic(self, x: Tensor, shape: BlockShape, key_mask: Tensor | None = None) -> Tensor:
        if shape.head_dim != self.shape.head_dim:
            raise ValueError(f"head_dim is fixed at {self.shape.head_dim}, got {shape.head_dim}")
        return block_forward(x, self.sliced_parameters(shape), shape, key_mask)


def blocks_forward(x: Tensor, params: Mapping[str, Tensor], shapes: Sequence[BlockShape],
                   key_mask: Tensor | None = None) -> Tensor:
    """The blocks `blocks.{i}.` of `params`, one after the other."""
    for index, block_shape in enumerate(shapes):
        x = block_forward(x, prefixed(params, f"blocks.{index}."), block_shape, key_mask)
    return x


def block_slices(blocks: Sequence[ElasticTransformerBlock], shapes: Sequence[BlockShape]) -> dict[str, WeightSlice]:
    """Where the parameters `blocks.{i}.*` of static blocks of `shapes` lie in the elastic `blocks`."""
    return {f"blocks.{index}.{name}": replace(part, source=f"blocks.{index}.{part.source}")
            for index, shape in enumerate(shapes) for name, part in blocks[index].weight_slices(shape).items()}


class TransformerNetworkParts:
    """What the transformer networks share after their token embedding: a position embedding, the
    blocks (`_make_block`), a final LayerNorm and a linear head."""

    @staticmethod
    def _make_block(shape: BlockShape) -> nn.Module:
        return TransformerBlock(shape)

    def _make_stack(self, tokens: int, embed_dim: int, blocks: Sequence[BlockShape], num_classes: int) -> None:
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(self._make_block(block) for block in blocks)
        self.norm = nn.LayerNorm(embed_dim, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)


class TransformerSupernetMixin:
    """Put first in the bases of a transformer family's supernet class (before its static network class):
    the network is built at the space's largest shape, with elastic blocks."""

    def __init__(self, space) -> None:
        self.space = space
        super().__init__(space.shape(space.largest()))

    @staticmethod
    def _make_block(shape: BlockShape) -> nn.Module:
        return ElasticTransformerBlock(shape)

    def _front_slices(self, shape: Any) -> dict[str, WeightSlice]:
        """The family's token embedding (patches, token ids) at `shape`'s width: set by each family."""
        raise NotImplementedError

    def _positions(self, shape: Any) -> int:
        """How many of the learnt positions the static network of `shape` holds (all, unless the family says)."""
        return self.pos_embed.shape[1]

    def _whole_slices(self) -> dict[str, WeightSlice]:
        """Tensors that are not elastic, taken whole (a conv stem, say); none by default."""
        return {}

    def _parameter_slices(self, shape: Any) -> dict[str, WeightSlice]:
        """Where each elastic parameter of the static network of `shape` lies in the largest weights."""
        embed = shape.embed_dim
        ends = {
            "pos_embed": prefix_slice("pos_embed", (1, self._positions(shape), embed)),
            "norm.weight": prefix_slice("norm.weight", (embed,)),
            "norm.bias": prefix_slice("norm.bias", (embed,)),
            "head.weight": prefix_slice("head.weight", (self.head.weight.shape[0], embed)),
            "head.bias": prefix_slice("head.bias", (self.head.weight.shape[0],)),
        }
        return {**self._front_slices(shape), **ends, **block_slices(self.blocks, shape.blocks)}

    def weight_slices(self, config: Mapping[str, Any]) -> dict[str, WeightSlice]:
        """Where every tensor of `extract(config)`'s state dict lies in this supernet's state dict.
        `extract` copies exactly these slices (tested for every space); the elastic bundle stores them."""
        return {**self._whole_slices(), **self._parameter_slices(self.space.shape(config))}

    def sliced_parameters(self, shape: Any) -> dict[str, Tensor]:
        """The elastic parameters of the static network of `shape`, as views into the largest weights."""
        parameters = dict(self.named_parameters())
        return {name: part.apply(parameters[part.source]) for name, part in self._parameter_slices(shape).items()}


def block_costs(shape: BlockShape, tokens: int) -> dict[str, float]:
    """Multiply-accumulates and parameters of one block on `tokens` tokens."""
    embed, attention, hidden = shape.embed_dim, shape.attention_dim, shape.mlp_hidden
    attention_costs = attention_kind(shape.attention).costs(tokens, shape.num_heads, shape.head_dim)
    return {
        "qkv_macs": tokens * embed * 3 * attention,
        "attention_macs": attention_costs["macs"],
        "proj_macs": tokens * attention * embed,
        "mlp_macs": 2 * tokens * embed * hidden,
        "params": 4 * embed + (embed + 1) * 3 * attention + (attention + 1) * embed
        + (embed + 1) * hidden + (hidden + 1) * embed,
        "activation_elements": tokens * (4 * embed + 3 * attention + hidden) + attention_costs["activation_elements"],
    }
