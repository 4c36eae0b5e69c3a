"""The `vit` space: an elastic vision transformer for image classification.

Elastic: depth, embedding width (first-k channels of the largest weights), per-block number of heads
(fixed head width) and per-block MLP hidden width as a ratio of the embedding width (first-k hidden
units, nested) and, when the space is built with more than one precision, per-block precision of the
linear layers (`block{i}.precision`: int8 as the space's `int8_scheme` executes it, or fp32). A small
convolutional stem (two 3x3 convolutions with BatchNorm, the second strided)
before the patch embedding makes ViTs train well on small data sets.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from search_spaces.errors import ConfigError
from search_spaces.layer_cost import LayerCost
from search_spaces.quantization import PRECISIONS, create_scheme
from search_spaces.registry import register_space
from search_spaces.space import Choice, SearchSpace
from search_spaces.transformer import BlockShape, block_costs
from search_spaces.vit_network import ViTNetwork, ViTShape, ViTSupernet


BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}  # of a linear layer's input at its precision
BLOCK_LAYERS = ("qkv", "attention", "proj", "mlp")  # per-layer slots of a block; attention runs fp32


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"space argument {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _sorted_choices(name: str, values: Sequence[Any], kind: type) -> tuple:
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(f"space argument {name!r} must be a non-empty list of positive numbers, got {values!r}")
    return tuple(sorted({kind(v) for v in values}))


def _precisions(values: Sequence[str], int8_scheme: str) -> tuple[str, ...]:
    if isinstance(values, str) or not values or any(value not in PRECISIONS for value in values):
        raise ConfigError(f"space argument 'precisions' must be a non-empty list from {list(PRECISIONS)}, "
                          f"got {values!r}")
    if "int8" in values:
        create_scheme(int8_scheme)  # an unknown scheme fails here, naming the known ones
    return tuple(precision for precision in PRECISIONS if precision in values)  # fewest bits first


@register_space("vit")
class ViTSpace(SearchSpace):
    """Elastic vision transformer: depth, width, and per block heads, MLP ratio and precision.

    Keys: `depth`, `embed_dim`, and per block i: `block{i}.num_heads`, `block{i}.mlp_ratio`, and
    `block{i}.precision` when `precisions` has more than one entry (with one, every block runs at it)."""

    supports_precisions = True

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
    ) -> None:
        for name, value in [("image_size", image_size), ("in_channels", in_channels), ("num_classes", num_classes),
                            ("patch_size", patch_size), ("head_dim", head_dim)]:
            _positive_int(name, value)
        _positive_int("stem_channels", stem_channels, minimum=0)
        if stem_stride not in (1, 2):
            raise ConfigError(f"space argument 'stem_stride' must be 1 or 2, got {stem_stride!r}")
        stem_stride = stem_stride if stem_channels else 1
        if image_size % stem_stride or patch_size == 0 or (image_size // stem_stride) % patch_size:
            raise ConfigError(f"space argument 'patch_size' = {patch_size} must divide the stem's output size "
                              f"{image_size // stem_stride} (image_size {image_size} / stem_stride {stem_stride})")
        depths = _sorted_choices("depth_choices", depth_choices, int)
        embeds = _sorted_choices("embed_dim_choices", embed_dim_choices, int)
        heads = _sorted_choices("num_heads_choices", num_heads_choices, int)
        ratios = _sorted_choices("mlp_ratio_choices", mlp_ratio_choices, float)
        self.precisions = _precisions(precisions, int8_scheme)
        self.int8_scheme = int8_scheme
        # An fp32-only space records no precision arguments, so its key (and every stored measurement
        # and checkpoint made before precisions existed) stays the same.
        precision_arguments = {} if self.precisions == ("fp32",) else {
            "precisions": list(self.precisions), **({"int8_scheme": int8_scheme} if "int8" in self.precisions else {})}
        super().__init__(image_size=image_size, in_channels=in_channels, num_classes=num_classes,
                         patch_size=patch_size, stem_channels=stem_channels, stem_stride=stem_stride, head_dim=head_dim,
                         depth_choices=list(depths), embed_dim_choices=list(embeds),
                         num_heads_choices=list(heads), mlp_ratio_choices=list(ratios), **precision_arguments)
        self.max_depth = depths[-1]
        self.choices = {
            "depth": Choice("depth", depths, "number of transformer blocks"),
            "embed_dim": Choice("embed_dim", embeds, "width of the residual stream (first-k channels)"),
        }
        for index in range(self.max_depth):
            self.choices[f"block{index}.num_heads"] = Choice(
                f"block{index}.num_heads", heads, f"attention heads of block {index} (head width {head_dim})")
            self.choices[f"block{index}.mlp_ratio"] = Choice(
                f"block{index}.mlp_ratio", ratios, f"MLP hidden width of block {index} / embed_dim")
            if len(self.precisions) > 1:
                self.choices[f"block{index}.precision"] = Choice(
                    f"block{index}.precision", self.precisions,
                    f"precision of block {index}'s linear layers (int8: {int8_scheme})")

    @property
    def precision_keys(self) -> list[str]:
        """The `block{i}.precision` keys (none when the space has one precision)."""
        return [key for key in self.choices if key.endswith(".precision")]

    def at_precision(self, config: Mapping[str, Any], precision: str) -> dict[str, Any]:
        """`config` with every block at `precision` (canonical)."""
        return self.canonical({**config, **{key: precision for key in self.precision_keys}})

    def anchors(self) -> list[dict[str, Any]]:
        """The largest and the smallest architecture, each at every precision."""
        return [self.at_precision(architecture, precision)
                for architecture in (self.largest(), self.smallest()) for precision in self.precisions]

    def block_precision(self, config: Mapping[str, Any], index: int) -> str:
        return config.get(f"block{index}.precision", self.precisions[0])

    def inactive_keys(self, config: Mapping[str, Any]) -> set[str]:
        return {key for key in self.choices
                if key.startswith("block") and int(key[5:key.index(".")]) >= config["depth"]}

    # ------------------------------------------------------------------ networks
    @property
    def input_shape(self) -> tuple[int, ...]:
        size = self.arguments["image_size"]
        return (self.arguments["in_channels"], size, size)

    def shape(self, config: Mapping[str, Any]) -> ViTShape:
        config = self.canonical(config)
        embed = config["embed_dim"]
        blocks = tuple(
            BlockShape(embed_dim=embed, num_heads=config[f"block{i}.num_heads"], head_dim=self.arguments["head_dim"],
                       mlp_hidden=int(round(config[f"block{i}.mlp_ratio"] * embed)),
                       precision=self.block_precision(config, i), int8_scheme=self.int8_scheme)
            for i in range(config["depth"]))
        arguments = self.arguments
        side = arguments["image_size"] // arguments["stem_stride"] // arguments["patch_size"]
        return ViTShape(in_channels=arguments["in_channels"], stem_channels=arguments["stem_channels"],
                        stem_stride=arguments["stem_stride"], patch_size=arguments["patch_size"], tokens=side * side,
                        embed_dim=embed, blocks=blocks, num_classes=arguments["num_classes"])

    def build_supernet(self) -> ViTSupernet:
        return ViTSupernet(self)

    def build_network(self, config: Mapping[str, Any]) -> ViTNetwork:
        return ViTNetwork(self.shape(config))

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        shape = self.shape(config)
        size, tokens, embed = self.arguments["image_size"], shape.tokens, shape.embed_dim
        stem_out, stride = shape.stem_channels or shape.in_channels, shape.stem_stride
        stem_params = 9 * shape.stem_channels * (shape.in_channels + shape.stem_channels) + 4 * shape.stem_channels
        stem_macs = size * size * 9 * shape.stem_channels * (shape.in_channels + shape.stem_channels / stride ** 2)
        patch_macs = tokens * stem_out * shape.patch_size ** 2 * embed
        totals = {"qkv_macs": 0.0, "attention_macs": 0.0, "proj_macs": 0.0, "mlp_macs": 0.0,
                  "params": 0.0, "activation_elements": 0.0}
        block_linear_macs = {"int8": 0.0, "fp32": 0.0}
        for block in shape.blocks:
            costs = block_costs(block, tokens)
            for name, value in costs.items():
                totals[name] += value
            block_linear_macs[block.precision] += costs["qkv_macs"] + costs["proj_macs"] + costs["mlp_macs"]
        head_macs = embed * shape.num_classes
        totals["params"] += (stem_params + patch_macs // tokens + embed
                             + tokens * embed + 2 * embed + (embed + 1) * shape.num_classes)
        linear_macs = totals["qkv_macs"] + totals["proj_macs"] + totals["mlp_macs"] + head_macs
        return {
            "macs": stem_macs + patch_macs + linear_macs + totals["attention_macs"],
            "linear_macs": linear_macs,
            "conv_macs": stem_macs + patch_macs,
            **totals,
            "int8_linear_macs": block_linear_macs["int8"],  # the head always runs fp32
            "fp32_linear_macs": block_linear_macs["fp32"] + head_macs,
            "int8_blocks": sum(block.precision == "int8" for block in shape.blocks),
            "num_blocks": len(shape.blocks),
            "total_heads": sum(block.num_heads for block in shape.blocks),
            "total_mlp_hidden": sum(block.mlp_hidden for block in shape.blocks),
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
        layers = [LayerCost("stem", "stem", macs=costs["conv_macs"], params=float(stem_params), activation_bytes=4.0 * (
            self.arguments["image_size"] ** 2 * shape.in_channels + tokens * embed))]
        for index in range(self.max_depth):
            if index >= len(shape.blocks):
                layers.extend(LayerCost(f"block{index}.{name}", f"{name}.{self.precisions[0]}" if name != "attention"
                                        else "attention", active=False) for name in BLOCK_LAYERS)
                continue
            block = shape.blocks[index]
            block_cost = block_costs(block, tokens)
            width = BYTES_PER_ELEMENT[block.precision]
            attention, hidden = block.attention_dim, block.mlp_hidden
            layers += [
                LayerCost(f"block{index}.qkv", f"qkv.{block.precision}", macs=block_cost["qkv_macs"],
                          params=(embed + 1) * 3 * attention,
                          activation_bytes=tokens * (width * embed + 4 * 3 * attention)),
                LayerCost(f"block{index}.attention", "attention", macs=block_cost["attention_macs"],
                          activation_bytes=4.0 * tokens * (4 * attention + 2 * block.num_heads * tokens)),
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
        return ("stem", *linear, "attention", "head")

