"""The `mbv3` space: a trainable once-for-all MobileNetV3 supernet whose configs are `ofa_mbv3` configs.

Keys, values and inactive blocks are those of the `ofa_mbv3` table space: `resolution`,
`stage{s}.depth` (2, 3, 4) for five stages, `block{b}.kernel_size` (3, 5, 7) and `block{b}.expand_ratio`
(3, 4, 6) for 20 block slots; plus `block{b}.precision` when the space has more than one precision. So a
latency predictor fitted on the published once-for-all table accepts configs of this space as they are
(`ofa_mbv3` accepts and ignores the precision keys: the table's networks are fp32).

The fixed parts follow once-for-all's MobileNetV3-Large: a 3x3 stride-2 convolution with hard-swish, a
fixed depthwise-separable block, the five stages (widths 24, 40, 80, 112, 160; strides 2, 2, 2, 1, 2;
ReLU in stages 0-1 and hard-swish after; squeeze-and-excitation in stages 1, 3, 4), a 1x1 convolution to
960 channels, global pooling, a 960 -> 1280 layer and the classifier. `width_mult` scales every width
(rounded to a multiple of 8); at 1.0 with `image_size` 224, 3 channels and 1000 classes the network is
once-for-all's, with the same MACs and parameters as `ofa_mbv3.cost_features`.

**Resolution on images of any size.** The resolution values are kept on once-for-all's scale (128 to
224 by default), and the largest value stands for the data's own `image_size`: the network resizes its
input (bilinear) to `floor(resolution * image_size / max(resolution_choices))` pixels. With 224-pixel
images the resolution is the side in pixels, as in the table; on 28x28 MNIST the same choices give
16 to 28 pixels. Resolutions that give the same side are the same network, so `canonical` maps each to
the smallest such value (one config_id per network).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from search_spaces.arguments import (
    check_parameter_count,
    positive_int,
    positive_number,
    precisions_argument,
    recorded_precision_arguments,
    sorted_choices,
)
from search_spaces.errors import ConfigError
from search_spaces.mbv3_network import MBConvShape, MobileNetNetwork, MobileNetShape, MobileNetSupernet
from search_spaces.ofa_mbv3 import (
    DEPTHS,
    EXPAND_RATIOS,
    FEATURE_MIX,
    FINAL_EXPAND,
    FIRST_WIDTH,
    KERNEL_SIZES,
    RESOLUTIONS,
    STAGE_SQUEEZE_EXCITE,
    STAGE_STRIDES,
    STAGE_WIDTHS,
    STAGES,
    _make_divisible,
)
from search_spaces.precision_choices import PrecisionChoices
from search_spaces.registry import register_space
from search_spaces.space import Choice, SearchSpace

STAGE_ACTIVATIONS = ("relu", "relu", "hswish", "hswish", "hswish")
SQUEEZE_EXCITE_REDUCTION = 4


@register_space("mbv3")
class MobileNetV3Space(PrecisionChoices, SearchSpace):
    """Once-for-all MobileNetV3 supernet: resolution, depth per stage, kernel, expand ratio (and precision) per block."""

    supports_precisions = True
    calibration_samples = 512  # BatchNorm statistics are re-estimated per sub-network (see search_spaces.batch_norm)
    analytic_features = ("macs", "params", "activation_elements", "depthwise_macs", "pointwise_macs",
                         "num_blocks", "squeeze_excite_blocks", "int8_pointwise_macs")

    def __init__(
        self,
        image_size: int = 224,
        in_channels: int = 3,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        resolution_choices: Sequence[int] = RESOLUTIONS,
        depth_choices: Sequence[int] = DEPTHS,
        kernel_size_choices: Sequence[int] = KERNEL_SIZES,
        expand_ratio_choices: Sequence[int] = EXPAND_RATIOS,
        precisions: Sequence[str] = ("fp32",),
        int8_scheme: str = "ort-dynamic",
    ) -> None:
        for name, value in (("image_size", image_size), ("in_channels", in_channels), ("num_classes", num_classes)):
            positive_int(name, value)
        width_mult = positive_number("width_mult", width_mult)
        resolutions = sorted_choices("resolution_choices", resolution_choices, int)
        depths = sorted_choices("depth_choices", depth_choices, int)
        kernels = sorted_choices("kernel_size_choices", kernel_size_choices, int)
        ratios = sorted_choices("expand_ratio_choices", expand_ratio_choices, int)
        if any(kernel % 2 == 0 for kernel in kernels):
            raise ConfigError(f"space argument 'kernel_size_choices' must hold odd sizes, got {list(kernels)}")
        checked_precisions = precisions_argument(precisions, int8_scheme)
        super().__init__(image_size=image_size, in_channels=in_channels, num_classes=num_classes,
                         width_mult=width_mult, resolution_choices=list(resolutions), depth_choices=list(depths),
                         kernel_size_choices=list(kernels), expand_ratio_choices=list(ratios),
                         **recorded_precision_arguments(checked_precisions, int8_scheme))
        self._set_precisions(checked_precisions, int8_scheme)
        self.kernel_sizes, self.blocks_per_stage = kernels, depths[-1]
        self.widths = [_make_divisible(width * width_mult) for width in (FIRST_WIDTH, *STAGE_WIDTHS)]
        self.final_width = _make_divisible(FINAL_EXPAND * width_mult)
        self.feature_width = _make_divisible(FEATURE_MIX * width_mult)
        # one config value per distinct input side: the smallest resolution that gives it
        self._resolution_of_side: dict[int, int] = {}
        for resolution in resolutions:
            self._resolution_of_side.setdefault(self.input_side(resolution), resolution)
        self.choices = {"resolution": Choice("resolution", resolutions, "input side on the 224-pixel scale "
                                             f"(resized to floor(resolution x {image_size} / {resolutions[-1]}) pixels)")}
        for stage in range(STAGES):
            self.choices[f"stage{stage}.depth"] = Choice(f"stage{stage}.depth", depths, f"blocks in stage {stage}")
        for block in range(STAGES * self.blocks_per_stage):
            self.choices[f"block{block}.kernel_size"] = Choice(
                f"block{block}.kernel_size", kernels, f"depthwise kernel of block {block}")
            self.choices[f"block{block}.expand_ratio"] = Choice(
                f"block{block}.expand_ratio", ratios, f"expand ratio of block {block}")
            self._add_precision_choice(block, "pointwise layers")
        check_parameter_count(self)

    # ------------------------------------------------------------------ configs
    def input_side(self, resolution: int) -> int:
        """The side, in pixels, that the network resizes its input to for `resolution`."""
        largest = self.arguments["resolution_choices"][-1]
        return max(1, math.floor(resolution * self.arguments["image_size"] / largest + 1e-9))

    def inactive_keys(self, config: Mapping[str, Any]) -> set[str]:
        inactive = set()
        for key in self.choices:
            if key.startswith("block"):
                stage, position = divmod(int(key[5:key.index(".")]), self.blocks_per_stage)
                if position >= config[f"stage{stage}.depth"]:
                    inactive.add(key)
        return inactive

    def canonical(self, config: Mapping[str, Any]) -> dict[str, Any]:
        canonical = super().canonical(config)
        canonical["resolution"] = self._resolution_of_side[self.input_side(canonical["resolution"])]
        return canonical

    # ------------------------------------------------------------------ networks
    @property
    def input_shape(self) -> tuple[int, ...]:
        size = self.arguments["image_size"]
        return (self.arguments["in_channels"], size, size)

    def _block(self, stage: int, position: int, kernel: int, ratio: int, precision: str) -> MBConvShape:
        in_channels = self.widths[stage] if position == 0 else self.widths[stage + 1]
        mid = _make_divisible(in_channels * ratio)
        return MBConvShape(in_channels=in_channels, mid_channels=mid, out_channels=self.widths[stage + 1],
                           kernel_size=kernel, stride=STAGE_STRIDES[stage] if position == 0 else 1,
                           activation=STAGE_ACTIVATIONS[stage],
                           se_channels=_make_divisible(mid // SQUEEZE_EXCITE_REDUCTION) if STAGE_SQUEEZE_EXCITE[stage] else 0,
                           precision=precision, int8_scheme=self.int8_scheme,
                           pointwise="matmul" if precision == "int8" else "conv")

    def slot_shapes(self) -> list[MBConvShape]:
        """Every block slot at its largest (the supernet's blocks)."""
        return [self._block(stage, position, self.kernel_sizes[-1], self.choices["block0.expand_ratio"].values[-1],
                            "fp32")
                for stage in range(STAGES) for position in range(self.blocks_per_stage)]

    def shape(self, config: Mapping[str, Any]) -> MobileNetShape:
        config = self.canonical(config)
        blocks, slots = [], []
        for stage in range(STAGES):
            for position in range(config[f"stage{stage}.depth"]):
                slot = stage * self.blocks_per_stage + position
                blocks.append(self._block(stage, position, config[f"block{slot}.kernel_size"],
                                          config[f"block{slot}.expand_ratio"], self.block_precision(config, slot)))
                slots.append(slot)
        arguments = self.arguments
        return MobileNetShape(in_channels=arguments["in_channels"], image_size=arguments["image_size"],
                              input_side=self.input_side(config["resolution"]), first_channels=self.widths[0],
                              blocks=tuple(blocks), slots=tuple(slots), final_channels=self.final_width,
                              feature_channels=self.feature_width, num_classes=arguments["num_classes"])

    def build_supernet(self) -> MobileNetSupernet:
        return MobileNetSupernet(self)

    def build_network(self, config: Mapping[str, Any]) -> MobileNetNetwork:
        return MobileNetNetwork(self.shape(config))

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """MACs, parameters and activation sizes of the network at its input side (the resize is free), as
        `ofa_mbv3` counts them, plus the pointwise MACs that run at int8."""
        config = self.canonical(config)
        shape = self.shape(config)
        first, side = shape.first_channels, math.ceil(shape.input_side / 2)
        macs = side * side * shape.in_channels * first * 9
        params = shape.in_channels * first * 9 + 2 * first
        activations = side * side * first
        depthwise, pointwise = side * side * first * 9, side * side * first * first  # the fixed first block
        params += first * 9 + first * first + 4 * first
        activations += 2 * side * side * first
        int8_pointwise = squeeze_excite = 0
        for block in shape.blocks:
            mid, out, kernel, se = block.mid_channels, block.out_channels, block.kernel_size, block.se_channels
            out_side = math.ceil(side / block.stride)
            block_pointwise = side * side * block.in_channels * mid + out_side * out_side * mid * out
            depthwise += out_side * out_side * mid * kernel * kernel
            pointwise += block_pointwise + 2 * mid * se
            int8_pointwise += block_pointwise if block.precision == "int8" else 0
            params += block.in_channels * mid + mid * kernel * kernel + mid * out + 2 * (2 * mid + out)
            params += 2 * mid * se + mid + se if se else 0
            squeeze_excite += bool(se)
            activations += side * side * mid + out_side * out_side * (mid + out)
            side = out_side
        last, final, feature = shape.blocks[-1].out_channels, shape.final_channels, shape.feature_channels
        pointwise += side * side * last * final + final * feature + feature * shape.num_classes
        params += last * final + 2 * final + final * feature + (feature + 1) * shape.num_classes
        activations += side * side * (last + final) + final + feature + shape.num_classes  # the head's
        return {
            "macs": float(macs + depthwise + pointwise), "params": float(params),
            "activation_elements": float(activations), "depthwise_macs": float(depthwise),
            "pointwise_macs": float(pointwise), "num_blocks": float(1 + len(shape.blocks)),
            "squeeze_excite_blocks": float(squeeze_excite), "resolution": float(config["resolution"]),
            "input_side": float(shape.input_side), "int8_pointwise_macs": float(int8_pointwise),
            "int8_blocks": float(sum(block.precision == "int8" for block in shape.blocks)),
        }
