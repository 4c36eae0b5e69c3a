"""The `text_encoder` space: an elastic transformer encoder over token ids, for sequence classification.

Token and position embeddings, then the elastic blocks shared with the `vit` space
(`search_spaces.transformer`): elastic depth, hidden width (first-k channels), per-block heads (fixed head
width), per-block feed-forward width (first-k hidden units, nested) and, with more than one precision,
per-block precision of the four linear layers. The keys are the `vit` space's. The input is a sequence
of `max_length` int64 token ids, 0 being padding (masked in attention and pooling).

**Sequence length as a choice** (`max_length_choices`, each at most `max_length`): the config key
`max_length` is how many tokens the network reads; it keeps the first that many ids of its input (a Slice
in the exported model) and runs every block on them, with the first that many learnt positions. The input
stays `max_length` ids, so data, export and profiling are unchanged, and a profile times the blocks at the
chosen length. Off by default (no key, no recorded argument: every config_id and space key stays the same).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from search_spaces.arguments import (
    check_parameter_count,
    positive_int,
    precisions_argument,
    recorded_precision_arguments,
    sorted_choices,
)
from search_spaces.errors import ConfigError
from search_spaces.attention import DEFAULT_ATTENTION, attention_argument, recorded_attention_arguments
from search_spaces.quantization import int4_blockwise
from search_spaces.registry import register_space
from search_spaces.space import Choice
from search_spaces.text_encoder_network import PAD_ID, TextEncoderNetwork, TextEncoderShape, TextEncoderSupernet
from search_spaces.transformer_space import TransformerSpace, stack_arguments, stack_costs


@register_space("text_encoder")
class TextEncoderSpace(TransformerSpace):
    """Elastic transformer encoder over token ids: depth, width, and per block heads, MLP ratio and precision."""

    def __init__(
        self,
        vocab_size: int = 8000,
        max_length: int = 64,
        num_classes: int = 2,
        head_dim: int = 16,
        depth_choices: Sequence[int] = (1, 2, 3, 4),
        embed_dim_choices: Sequence[int] = (64, 96, 128),
        num_heads_choices: Sequence[int] = (1, 2, 4),
        mlp_ratio_choices: Sequence[float] = (1.0, 2.0, 3.0),
        precisions: Sequence[str] = ("fp32",),
        int8_scheme: str = "ort-dynamic",
        int4_block_size: int = int4_blockwise.DEFAULT_BLOCK_SIZE,
        attention_choices: Sequence[str] = DEFAULT_ATTENTION,
        max_length_choices: Sequence[int] | None = None,
    ) -> None:
        positive_int("vocab_size", vocab_size, minimum=PAD_ID + 2)
        positive_int("max_length", max_length)
        positive_int("num_classes", num_classes)
        stack = stack_arguments(head_dim, depth_choices, embed_dim_choices, num_heads_choices, mlp_ratio_choices)
        checked_precisions = precisions_argument(precisions, int8_scheme, self.trainable_precisions)
        int4_block_size = int4_blockwise.block_size_argument(int4_block_size)
        attention_kinds = attention_argument(attention_choices)
        self.lengths = length_argument(max_length_choices, max_length)
        super().__init__(vocab_size=vocab_size, max_length=max_length, num_classes=num_classes, **stack,
                         **recorded_precision_arguments(checked_precisions, int8_scheme, int4_block_size),
                         **recorded_attention_arguments(attention_kinds),
                         **({} if max_length_choices is None else {"max_length_choices": list(self.lengths)}))
        self._set_stack(stack, checked_precisions, int8_scheme, attention_kinds, int4_block_size)
        if len(self.lengths) > 1:
            self.choices = {"max_length": Choice("max_length", self.lengths, f"tokens read (the first of the input's "
                                                 f"{max_length}); every block runs on them"), **self.choices}
        check_parameter_count(self)

    def tokens(self, config: Mapping[str, Any]) -> int:
        """How many tokens the network of a canonical config reads."""
        return config.get("max_length", self.lengths[-1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.arguments["max_length"],)

    @property
    def input_dtype(self) -> str:
        return "int64"

    @property
    def input_range(self) -> tuple[int, int]:
        return (PAD_ID + 1, self.arguments["vocab_size"])  # real tokens: the longest sequences, no padding

    def shape(self, config: Mapping[str, Any]) -> TextEncoderShape:
        config = self.canonical(config)
        return TextEncoderShape(vocab_size=self.arguments["vocab_size"], max_length=self.tokens(config),
                                embed_dim=config["embed_dim"], blocks=self.block_shapes(config),
                                num_classes=self.arguments["num_classes"])

    def build_supernet(self) -> TextEncoderSupernet:
        return TextEncoderSupernet(self)

    def build_network(self, config: Mapping[str, Any]) -> TextEncoderNetwork:
        return TextEncoderNetwork(self.shape(config))

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """Costs at the length read (the timed input has no padding); the embedding lookups cost no MACs. With
        length choices, also `tokens` (so a latency model sees the length itself)."""
        shape = self.shape(config)
        tokens, embed, classes = shape.max_length, shape.embed_dim, shape.num_classes
        totals = stack_costs(shape.blocks, tokens)
        head_macs = embed * classes
        linear_macs = totals["qkv_macs"] + totals["proj_macs"] + totals["mlp_macs"] + head_macs
        block_fp32 = totals.pop("block_fp32_linear_macs")
        int4 = self.int4_features(totals)
        totals["params"] += shape.vocab_size * embed + tokens * embed + 2 * embed + (embed + 1) * classes
        totals["activation_elements"] += tokens * embed
        return {"macs": linear_macs + totals["attention_macs"], "linear_macs": linear_macs, **totals,
                "fp32_linear_macs": block_fp32 + head_macs, **int4, **self.attention_features(shape.blocks, tokens),
                **({"tokens": float(tokens)} if len(self.lengths) > 1 else {})}


def length_argument(values: Sequence[int] | None, max_length: int) -> tuple[int, ...]:
    """The space argument `max_length_choices`, checked (ascending, each at most the input's `max_length`);
    None: the input's length alone."""
    if values is None:
        return (max_length,)
    lengths = sorted_choices("max_length_choices", values, int)
    if lengths[-1] > max_length:
        raise ConfigError(f"space argument 'max_length_choices' must hold lengths of at most max_length "
                          f"({max_length}: the input's length), got {list(lengths)}")
    return lengths
