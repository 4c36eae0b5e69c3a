"""What the transformer families (`vit`, `text_encoder`) share as spaces: the choices of an elastic stack
of `search_spaces.transformer` blocks, its block shapes and its costs.

Keys: `depth`, `embed_dim`, and per block i: `block{i}.num_heads`, `block{i}.mlp_ratio`, with more
than one precision `block{i}.precision`, and with more than one attention kind `block{i}.attention`
(`attention_choices`; softmax only by default, so the key is absent and every config_id is unchanged).
Blocks at or beyond `depth` are inactive.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from search_spaces.arguments import positive_int, sorted_choices
from search_spaces.attention import ATTENTION_KINDS, DEFAULT_ATTENTION
from search_spaces.precision_choices import PrecisionChoices
from search_spaces.space import Choice, SearchSpace
from search_spaces.transformer import BlockShape, block_costs


def stack_arguments(head_dim: int, depth_choices: Sequence[int], embed_dim_choices: Sequence[int],
                    num_heads_choices: Sequence[int], mlp_ratio_choices: Sequence[float]) -> dict[str, Any]:
    """The stack's arguments, checked and normalised (sorted lists), as a space records them (the attention
    kinds are checked by `search_spaces.attention.attention_argument` and recorded only when not softmax only)."""
    positive_int("head_dim", head_dim)
    return {"head_dim": head_dim, "depth_choices": list(sorted_choices("depth_choices", depth_choices, int)),
            "embed_dim_choices": list(sorted_choices("embed_dim_choices", embed_dim_choices, int)),
            "num_heads_choices": list(sorted_choices("num_heads_choices", num_heads_choices, int)),
            "mlp_ratio_choices": list(sorted_choices("mlp_ratio_choices", mlp_ratio_choices, float))}


class TransformerSpace(PrecisionChoices, SearchSpace):
    """Base of the transformer spaces: `SearchSpace.__init__` with the recorded arguments, then `_set_stack`."""

    supports_precisions = True
    trainable_precisions = ("int4", "int8", "fp32")

    attention_kinds: tuple[str, ...] = ("softmax",)  # the kinds a block may run, ascending

    def _set_stack(self, stack: Mapping[str, Any], precisions: tuple[str, ...], int8_scheme: str,
                   attention_kinds: tuple[str, ...] = ("softmax",), int4_block_size: int = 32) -> None:
        """Set the choices from `stack_arguments(...)` (after `SearchSpace.__init__`); `attention_kinds` from
        `attention_argument`."""
        self._set_precisions(precisions, int8_scheme, int4_block_size)
        self.attention_kinds = attention_kinds
        self.head_dim, self.max_depth = stack["head_dim"], max(stack["depth_choices"])
        self.choices = {
            "depth": Choice("depth", tuple(stack["depth_choices"]), "number of transformer blocks"),
            "embed_dim": Choice("embed_dim", tuple(stack["embed_dim_choices"]),
                                "width of the residual stream (first-k channels)"),
        }
        for index in range(self.max_depth):
            self.choices[f"block{index}.num_heads"] = Choice(
                f"block{index}.num_heads", tuple(stack["num_heads_choices"]),
                f"attention heads of block {index} (head width {self.head_dim})")
            self.choices[f"block{index}.mlp_ratio"] = Choice(
                f"block{index}.mlp_ratio", tuple(stack["mlp_ratio_choices"]),
                f"MLP hidden width of block {index} / embed_dim")
            self._add_precision_choice(index, "linear layers")
            if len(attention_kinds) > 1:
                self.choices[f"block{index}.attention"] = Choice(
                    f"block{index}.attention", attention_kinds,
                    f"attention of block {index} (softmax: O(n^2 d); linear: elu+1 kernel, O(n d^2))")

    def inactive_keys(self, config: Mapping[str, Any]) -> set[str]:
        return {key for key in self.choices
                if key.startswith("block") and int(key[5:key.index(".")]) >= config["depth"]}

    def block_shapes(self, config: Mapping[str, Any]) -> tuple[BlockShape, ...]:
        """The active blocks of a canonical config."""
        embed = config["embed_dim"]
        return tuple(
            BlockShape(embed_dim=embed, num_heads=config[f"block{i}.num_heads"], head_dim=self.head_dim,
                       mlp_hidden=int(round(config[f"block{i}.mlp_ratio"] * embed)),
                       precision=self.block_precision(config, i), int8_scheme=self.int8_scheme,
                       int4_block_size=self.int4_block_size,
                       attention=config.get(f"block{i}.attention", self.attention_kinds[0]))
            for i in range(config["depth"]))

    def attention_features(self, blocks: Sequence[BlockShape], tokens: int) -> dict[str, float]:
        """Cost features of the attention kinds: none in a softmax-only space (so its feature names, and the
        predictors fitted on them, stay as they were); else the MACs and the number of linear-attention blocks."""
        if self.attention_kinds == DEFAULT_ATTENTION:
            return {}
        linear = [block for block in blocks if block.attention == "linear"]
        return {"linear_attention_macs": float(sum(block_costs(block, tokens)["attention_macs"] for block in linear)),
                "linear_attention_blocks": len(linear)}

    def int4_features(self, totals: dict[str, float]) -> dict[str, float]:
        """Pop `stack_costs`' int4 counts from `totals`; return them where the space offers int4 (elsewhere
        the feature names, and the predictors fitted on them, stay as they were)."""
        features = {name: totals.pop(name) for name in ("int4_linear_macs", "int4_blocks")}
        return features if "int4" in self.precisions else {}

    @property
    def layer_attention_kinds(self) -> tuple[str, ...]:
        """The `LayerCost.kind` of each attention kind the space's blocks may run."""
        return tuple(ATTENTION_KINDS[name].layer_kind for name in self.attention_kinds)


def stack_costs(blocks: Sequence[BlockShape], tokens: int) -> dict[str, float]:
    """Summed costs of the blocks on `tokens` tokens, with their linear MACs by precision and the counts
    a latency model uses (blocks, heads, MLP units)."""
    totals = {"qkv_macs": 0.0, "attention_macs": 0.0, "proj_macs": 0.0, "mlp_macs": 0.0,
              "params": 0.0, "activation_elements": 0.0}
    linear_macs = {"int4": 0.0, "int8": 0.0, "fp32": 0.0}
    for block in blocks:
        costs = block_costs(block, tokens)
        for name, value in costs.items():
            totals[name] += value
        linear_macs[block.precision] += costs["qkv_macs"] + costs["proj_macs"] + costs["mlp_macs"]
    return {**totals, "int8_linear_macs": linear_macs["int8"], "block_fp32_linear_macs": linear_macs["fp32"],
            "int8_blocks": sum(block.precision == "int8" for block in blocks), "num_blocks": len(blocks),
            "int4_linear_macs": linear_macs["int4"], "int4_blocks": sum(block.precision == "int4" for block in blocks),
            "total_heads": sum(block.num_heads for block in blocks),
            "total_mlp_hidden": sum(block.mlp_hidden for block in blocks)}
