"""The attention kinds a transformer block can run, by name: `softmax` and `linear`.

Both read the block's query, key and value heads (batch, heads, tokens, head_dim), made by the block's one
QKV layer, and return the attended values in the same layout; the block's projection follows. A supernet
therefore shares every weight between the two kinds: the kind is a choice of arithmetic, not of weights.

* `softmax`: scaled dot-product attention, softmax(Q K^T / sqrt(d)) V. O(n^2 d) per head.
* `linear`: kernelized linear attention (Katharopoulos et al., 2020) with the feature map
  phi(x) = elu(x) + 1 > 0: out = phi(Q) (phi(K)^T V) / (phi(Q) sum_k phi(K)), computed per head by first
  summing phi(K)^T V into a (head_dim, head_dim) state, so it is O(n d^2) per head. No 1/sqrt(d) scaling
  (the normaliser already bounds the output).

Padding keys (text) are left out by `key_mask` (batch, tokens), 1 for real tokens and 0 for padding:
softmax adds `MASKED_SCORE` to their scores, linear zeroes phi(K) there (they add nothing to the state or
the normaliser). Both run fp32 in an int8 block: only the block's linear layers are quantized.

Kinds ascend like every choice (`ATTENTION_KINDS`): linear first, softmax last, so a space's largest
network (the sandwich rule's teacher) runs softmax everywhere and its smallest linear attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from search_spaces.errors import ConfigError

MASKED_SCORE = -1e4  # added to the attention scores of padding keys (finite: fp16-safe, no NaN rows)
LINEAR_DENOMINATOR_FLOOR = 1e-6  # a query with no real key (all padding) attends to nothing: 0, not NaN


def softmax_attention(query: Tensor, key: Tensor, value: Tensor, key_mask: Tensor | None) -> Tensor:
    scores = torch.matmul(query, key.transpose(-2, -1)) * (query.shape[-1] ** -0.5)
    if key_mask is not None:
        scores = scores + ((1.0 - key_mask) * MASKED_SCORE)[:, None, None, :]
    return torch.matmul(scores.softmax(dim=-1), value)


def linear_attention(query: Tensor, key: Tensor, value: Tensor, key_mask: Tensor | None) -> Tensor:
    query, key = F.elu(query) + 1.0, F.elu(key) + 1.0
    if key_mask is not None:
        key = key * key_mask[:, None, :, None]
    state = torch.matmul(key.transpose(-2, -1), value)  # (batch, heads, head_dim, head_dim)
    normaliser = torch.matmul(query, key.sum(dim=-2).unsqueeze(-1))  # (batch, heads, tokens, 1)
    return torch.matmul(query, state) / normaliser.clamp(min=LINEAR_DENOMINATOR_FLOOR)


def softmax_costs(tokens: int, heads: int, head_dim: int) -> dict[str, float]:
    """Q K^T and the weighted sum of V: n^2 d each per head; the scores and their softmax per head."""
    return {"macs": 2 * tokens * tokens * heads * head_dim, "activation_elements": heads * tokens * tokens}


def linear_costs(tokens: int, heads: int, head_dim: int) -> dict[str, float]:
    """phi(K)^T V and phi(Q) times that state: n d^2 each per head; the normaliser phi(Q) . sum phi(K): n d
    per head. Activations: phi(Q), phi(K) and the (d, d) state per head."""
    return {"macs": heads * (2 * tokens * head_dim * head_dim + tokens * head_dim),
            "activation_elements": heads * (2 * tokens * head_dim + head_dim * head_dim)}


@dataclass(frozen=True)
class AttentionKind:
    name: str
    forward: Callable[[Tensor, Tensor, Tensor, Tensor | None], Tensor]  # (query, key, value, key_mask) -> attended
    costs: Callable[[int, int, int], dict[str, float]]  # (tokens, heads, head_dim) -> macs, activation_elements
    layer_kind: str  # `LayerCost.kind` of the block's attention slot


ATTENTION_KINDS = {kind.name: kind for kind in (
    AttentionKind("linear", linear_attention, linear_costs, "linear_attention"),
    AttentionKind("softmax", softmax_attention, softmax_costs, "attention"),
)}  # ascending: the smallest (cheapest at length) first
DEFAULT_ATTENTION = ("softmax",)


def attention_kind(name: str) -> AttentionKind:
    try:
        return ATTENTION_KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown attention {name!r}; known: {', '.join(ATTENTION_KINDS)}") from None


def attention_argument(values: Any) -> tuple[str, ...]:
    """The space argument `attention_choices`, checked, in ascending order."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values or any(
            not isinstance(value, str) or value not in ATTENTION_KINDS for value in values):
        shown = repr(values) if len(repr(values)) <= 80 else repr(values)[:77] + "..."
        raise ConfigError(f"space argument 'attention_choices' must be a non-empty list from "
                          f"{list(ATTENTION_KINDS)}, got {shown}")
    return tuple(name for name in ATTENTION_KINDS if name in values)


def recorded_attention_arguments(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Nothing for softmax only, so the space's key (and every measurement and checkpoint made before attention
    was a choice) stays the same."""
    return {} if kinds == DEFAULT_ATTENTION else {"attention_choices": list(kinds)}
