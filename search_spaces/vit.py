"""The `vit` space: an elastic vision transformer for image classification.

Elastic: depth, embedding width (first-k channels of the largest weights), per-block number of heads
(fixed head width) and per-block MLP hidden width as a ratio of the embedding width (first-k hidden
units, nested) and, when the space is built with more than one precision, per-block precision of the
linear layers (`block{i}.precision`: int8 as the space's `int8_scheme` executes it, or fp32). A small
convolutional stem (two 3x3 convolutions with BatchNorm, the second strided)
before the patch embedding makes ViTs train well on small data sets.

**Resolution as a choice** (`resolution_choices`, sides in pixels), so the token count varies: the
network resizes its input (bilinear, as the `mbv3` space does) to the config's `resolution` before the
stem, giving (resolution / stem_stride / patch_size)^2 tokens, and interpolates its learnt position grid
(the largest resolution's, shared by every resolution) to the smaller grid. The input stays
`image_size`, so a profile times the exported model at the chosen token count. The stem's BatchNorm
statistics depend on the resolution, so each extracted network re-estimates them (`calibration_samples`).
Off by default (no key, no recorded argument: every config_id and space key stays the same).
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
from search_spaces.layer_cost import LayerCost
from search_spaces.attention import (
    ATTENTION_KINDS,
    DEFAULT_ATTENTION,
    attention_argument,
    recorded_attention_arguments,
)
from search_spaces.quantization import int4_blockwise
from search_spaces.registry import register_space
from search_spaces.space import Choice
from search_spaces.transformer import block_costs
from search_spaces.transformer_space import TransformerSpace, stack_arguments, stack_costs
from search_spaces.vit_network import ViTNetwork, ViTShape, ViTSupernet


# of a linear layer's input at its precision (int4 is weight-only: its input stays fp32)
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1, "int4": 4}
BLOCK_LAYERS = ("qkv", "attention", "proj", "mlp")  # per-layer slots of a block; attention runs fp32


def attention_kind_costs(block, tokens: int) -> float:
    """Elements of the attention's own intermediates (softmax: the scores; linear: phi(Q), phi(K), the state)."""
    return ATTENTION_KINDS[block.attention].costs(tokens, block.num_heads, block.head_dim)["activation_elements"]


RESOLUTION_CALIBRATION_SAMPLES = 512  # training images that re-estimate the stem's BatchNorm per network


def resolution_argument(values: Sequence[int] | None, image_size: int, divisor: int) -> tuple[int, ...]:
    """The space argument `resolution_choices`, checked (ascending, each a multiple of stem_stride x
    patch_size, so it gives a whole token grid); None: the image size alone."""
    if values is None:
        return (image_size,)
    resolutions = sorted_choices("resolution_choices", values, int)
    if any(resolution % divisor for resolution in resolutions):
        raise ConfigError(f"space argument 'resolution_choices' must hold multiples of stem_stride x patch_size "
                          f"({divisor}), got {list(resolutions)}")
    return resolutions


@register_space("vit")
class ViTSpace(TransformerSpace):
    """Elastic vision transformer: depth, width, and per block heads, MLP ratio and precision.

    Keys: `depth`, `embed_dim`, and per block i: `block{i}.num_heads`, `block{i}.mlp_ratio`, and
    `block{i}.precision` when `precisions` has more than one entry (with one, every block runs at it)."""

    def __init__(
        self,
        image_size: int = 28,
        in_channels: int = 1,
        num_classes: int = 10,
        patch_size: int = 2,
        stem_channels: int = 32,
        stem_stride: int = 2,
        head_dim: int = 16,
        depth_choices: Sequence[int] = (1, 2, 3, 4),
        embed_dim_choices: Sequence[int] = (48, 64, 96),
        num_heads_choices: Sequence[int] = (1, 2, 4),
        mlp_ratio_choices: Sequence[float] = (1.0, 2.0, 3.0),
        precisions: Sequence[str] = ("fp32",),
        int8_scheme: str = "ort-dynamic",
        int4_block_size: int = int4_blockwise.DEFAULT_BLOCK_SIZE,
        attention_choices: Sequence[str] = DEFAULT_ATTENTION,
        resolution_choices: Sequence[int] | None = None,
    ) -> None:
        for name, value in [("image_size", image_size), ("in_channels", in_channels), ("num_classes", num_classes),
                            ("patch_size", patch_size)]:
            positive_int(name, value)
        positive_int("stem_channels", stem_channels, minimum=0)
        if stem_stride not in (1, 2):
            raise ConfigError(f"space argument 'stem_stride' must be 1 or 2, got {stem_stride!r}")
        stem_stride = stem_stride if stem_channels else 1
        if image_size % stem_stride or patch_size == 0 or (image_size // stem_stride) % patch_size:
            raise ConfigError(f"space argument 'patch_size' = {patch_size} must divide the stem's output size "
                              f"{image_size // stem_stride} (image_size {image_size} / stem_stride {stem_stride})")
        stack = stack_arguments(head_dim, depth_choices, embed_dim_choices, num_heads_choices, mlp_ratio_choices)
        checked_precisions = precisions_argument(precisions, int8_scheme, self.trainable_precisions)
        int4_block_size = int4_blockwise.block_size_argument(int4_block_size)
        attention_kinds = attention_argument(attention_choices)
        self.resolutions = resolution_argument(resolution_choices, image_size, stem_stride * patch_size)
        super().__init__(image_size=image_size, in_channels=in_channels, num_classes=num_classes,
                         patch_size=patch_size, stem_channels=stem_channels, stem_stride=stem_stride, **stack,
                         **recorded_precision_arguments(checked_precisions, int8_scheme, int4_block_size),
                         **recorded_attention_arguments(attention_kinds),
                         **({} if resolution_choices is None else {"resolution_choices": list(self.resolutions)}))
        self._set_stack(stack, checked_precisions, int8_scheme, attention_kinds, int4_block_size)
        if len(self.resolutions) > 1:
            self.choices = {"resolution": Choice("resolution", self.resolutions, f"side the {image_size}-pixel input "
                                                 f"is resized to (tokens: (side / {stem_stride * patch_size})^2)"),
                            **self.choices}
            if stem_channels:
                self.calibration_samples = RESOLUTION_CALIBRATION_SAMPLES
        check_parameter_count(self)

    def grid(self, config: Mapping[str, Any]) -> int:
        """Tokens per side of the network of a canonical config."""
        arguments = self.arguments
        return config.get("resolution", self.resolutions[-1]) // arguments["stem_stride"] // arguments["patch_size"]

    # ------------------------------------------------------------------ networks
    @property
    def input_shape(self) -> tuple[int, ...]:
        size = self.arguments["image_size"]
        return (self.arguments["in_channels"], size, size)

    def shape(self, config: Mapping[str, Any]) -> ViTShape:
        config = self.canonical(config)
        arguments = self.arguments
        side, resolution = self.grid(config), config.get("resolution", self.resolutions[-1])
        largest = self.resolutions[-1] // arguments["stem_stride"] // arguments["patch_size"]
        return ViTShape(in_channels=arguments["in_channels"], stem_channels=arguments["stem_channels"],
                        stem_stride=arguments["stem_stride"], patch_size=arguments["patch_size"], tokens=side * side,
                        embed_dim=config["embed_dim"], blocks=self.block_shapes(config),
                        num_classes=arguments["num_classes"],
                        input_side=None if resolution == arguments["image_size"] else resolution,
                        position_side=None if largest == side else largest)

    def build_supernet(self) -> ViTSupernet:
        return ViTSupernet(self)

    def build_network(self, config: Mapping[str, Any]) -> ViTNetwork:
        return ViTNetwork(self.shape(config))

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        shape = self.shape(config)
        size, tokens, embed = shape.input_side or self.arguments["image_size"], shape.tokens, shape.embed_dim
        stem_out, stride = shape.stem_channels or shape.in_channels, shape.stem_stride
        stem_params = 9 * shape.stem_channels * (shape.in_channels + shape.stem_channels) + 4 * shape.stem_channels
        stem_macs = size * size * 9 * shape.stem_channels * (shape.in_channels + shape.stem_channels / stride ** 2)
        patch_macs = tokens * stem_out * shape.patch_size ** 2 * embed
        totals = stack_costs(shape.blocks, tokens)
        head_macs = embed * shape.num_classes
        totals["params"] += (stem_params + patch_macs // tokens + embed
                             + shape.positions * embed + 2 * embed + (embed + 1) * shape.num_classes)
        linear_macs = totals["qkv_macs"] + totals["proj_macs"] + totals["mlp_macs"] + head_macs
        block_fp32 = totals.pop("block_fp32_linear_macs")
        int4 = self.int4_features(totals)
        return {
            "macs": stem_macs + patch_macs + linear_macs + totals["attention_macs"],
            "linear_macs": linear_macs,
            "conv_macs": stem_macs + patch_macs,
            **{name: totals[name] for name in ("qkv_macs", "attention_macs", "proj_macs", "mlp_macs", "params",
                                               "activation_elements", "int8_linear_macs")},
            "fp32_linear_macs": block_fp32 + head_macs,  # the head always runs fp32
            **{name: totals[name] for name in ("int8_blocks", "num_blocks", "total_heads", "total_mlp_hidden")},
            **int4,
            **self.attention_features(shape.blocks, tokens),
            **({"tokens": float(tokens)} if len(self.resolutions) > 1 else {}),
        }

    def layer_costs(self, config: Mapping[str, Any]) -> list[LayerCost]:
        """The stem with the patch embedding, each block's QKV, attention, projection and MLP (slots of
        blocks beyond the depth inactive), and the head. Linear layers are of kind `<layer>.<precision>`;
        their activation bytes count the input at that precision and the fp32 output."""
        shape = self.shape(config)
        tokens, embed = shape.tokens, shape.embed_dim
        costs = self.cost_features(config)
        stem_out = shape.stem_channels or shape.in_channels
        stem_params = (9 * shape.stem_channels * (shape.in_channels + shape.stem_channels) + 4 * shape.stem_channels
                       + stem_out * shape.patch_size ** 2 * embed + embed)  # convolutions, BatchNorms, patch embedding
        side = shape.input_side or self.arguments["image_size"]
        layers = [LayerCost("stem", "stem", macs=costs["conv_macs"], params=float(stem_params), activation_bytes=4.0 * (
            side ** 2 * shape.in_channels + tokens * embed))]
        for index in range(self.max_depth):
            if index >= len(shape.blocks):
                layers.extend(LayerCost(f"block{index}.{name}", f"{name}.{self.precisions[0]}" if name != "attention"
                                        else self.layer_attention_kinds[0], active=False) for name in BLOCK_LAYERS)
                continue
            block = shape.blocks[index]
            block_cost = block_costs(block, tokens)
            width = BYTES_PER_ELEMENT[block.precision]
            attention, hidden = block.attention_dim, block.mlp_hidden
            layers += [
                LayerCost(f"block{index}.qkv", f"qkv.{block.precision}", macs=block_cost["qkv_macs"],
                          params=(embed + 1) * 3 * attention,
                          activation_bytes=tokens * (width * embed + 4 * 3 * attention)),
                LayerCost(f"block{index}.attention", ATTENTION_KINDS[block.attention].layer_kind,
                          macs=block_cost["attention_macs"], activation_bytes=4.0 * (
                              4 * tokens * attention + 2 * attention_kind_costs(block, tokens))),
                LayerCost(f"block{index}.proj", f"proj.{block.precision}", macs=block_cost["proj_macs"],
                          params=(attention + 1) * embed, activation_bytes=tokens * (width * attention + 4 * embed)),
                LayerCost(f"block{index}.mlp", f"mlp.{block.precision}", macs=block_cost["mlp_macs"],
                          params=(embed + 1) * hidden + (hidden + 1) * embed,
                          activation_bytes=tokens * (width * (embed + hidden) + 4 * (hidden + embed))),
            ]
        layers.append(LayerCost("head", "head", macs=float(embed * shape.num_classes),
                                params=float((embed + 1) * shape.num_classes),
                                activation_bytes=4.0 * (tokens * embed + embed + shape.num_classes)))
        return layers

    def layer_kinds(self) -> tuple[str, ...]:
        linear = tuple(f"{name}.{precision}" for name in ("qkv", "proj", "mlp") for precision in self.precisions)
        return ("stem", *linear, *self.layer_attention_kinds, "head")

