"""The `ofa_mbv3` space: once-for-all MobileNetV3 (width 1.0), a tabular benchmark space (no trainable
supernet here).

Five stages of up to four inverted-residual blocks (20 block slots). Choices: the input `resolution`
(128 to 224 in steps of 4), each stage's depth (2, 3 or 4 blocks), and each block's depthwise kernel
size (3, 5, 7) and expand ratio (3, 4, 6). Blocks beyond their stage's depth are inactive. The
published table's `ks` / `e` (20 values each), `d` (5 values) and `r` columns are read by
`config_from_row`.

The fixed parts follow once-for-all's MobileNetV3-Large: a 3x3 stride-2 convolution to 16 channels, a
16-channel depthwise block, the five stages (24, 40, 80, 112, 160 channels; strides 2, 2, 2, 1, 2;
squeeze-and-excitation in stages 1, 3 and 4), a 1x1 convolution to 960 channels, global pooling, a
960 -> 1280 layer and the 1000-class classifier.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from search_spaces.errors import ConfigError
from search_spaces.quantization import PRECISIONS
from search_spaces.registry import register_space
from search_spaces.space import Choice, SearchSpace

STAGE_WIDTHS = (24, 40, 80, 112, 160)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_SQUEEZE_EXCITE = (False, True, False, True, True)
BLOCKS_PER_STAGE = 4
STAGES = len(STAGE_WIDTHS)
KERNEL_SIZES = (3, 5, 7)
EXPAND_RATIOS = (3, 4, 6)
DEPTHS = (2, 3, 4)
RESOLUTIONS = tuple(range(128, 225, 4))
FIRST_WIDTH, FINAL_EXPAND, FEATURE_MIX, NUM_CLASSES = 16, 960, 1280, 1000


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@register_space("ofa_mbv3")
class OFAMobileNetV3Space(SearchSpace):
    """Once-for-all MobileNetV3: resolution, depth per stage, kernel size and expand ratio per block."""

    analytic_features = ("macs", "params", "activation_elements", "depthwise_macs", "pointwise_macs",
                         "num_blocks", "squeeze_excite_blocks")

    def __init__(self) -> None:
        super().__init__()
        self.choices = {"resolution": Choice("resolution", RESOLUTIONS, "input image side in pixels")}
        for stage in range(STAGES):
            self.choices[f"stage{stage}.depth"] = Choice(f"stage{stage}.depth", DEPTHS, f"blocks in stage {stage}")
        for block in range(STAGES * BLOCKS_PER_STAGE):
            self.choices[f"block{block}.kernel_size"] = Choice(
                f"block{block}.kernel_size", KERNEL_SIZES, f"depthwise kernel of block {block}")
            self.choices[f"block{block}.expand_ratio"] = Choice(
                f"block{block}.expand_ratio", EXPAND_RATIOS, f"expand ratio of block {block}")
            # configs of the trainable `mbv3` space with per-block precision are accepted: the published
            # networks are fp32, so the precision is dropped (the table prices every block as fp32)
            self.ignored_choices[f"block{block}.precision"] = Choice(
                f"block{block}.precision", PRECISIONS, "ignored: the table's networks run fp32")

    def inactive_keys(self, config: Mapping[str, Any]) -> set[str]:
        inactive = set()
        for block in range(STAGES * BLOCKS_PER_STAGE):
            stage, position = divmod(block, BLOCKS_PER_STAGE)
            if position >= config[f"stage{stage}.depth"]:
                inactive |= {f"block{block}.kernel_size", f"block{block}.expand_ratio"}
        return inactive

    def config_from_row(self, row: Mapping[str, str]) -> dict[str, Any]:
        """A config from the table's `ks`, `e`, `d` (space-separated lists) and `r` columns."""
        missing = [column for column in ("ks", "e", "d", "r") if column not in row]
        if missing:
            raise ConfigError(f"an ofa_mbv3 table needs columns ks, e, d and r; missing {', '.join(missing)}")
        lists = {}
        for column, length in (("ks", STAGES * BLOCKS_PER_STAGE), ("e", STAGES * BLOCKS_PER_STAGE), ("d", STAGES)):
            try:
                lists[column] = [int(value) for value in str(row[column]).split()]
            except ValueError:
                lists[column] = []
            if len(lists[column]) != length:
                raise ConfigError(f"column {column!r} must hold {length} space-separated integers, got {row[column]!r}")
        try:
            resolution = int(row["r"])
        except ValueError:
            raise ConfigError(f"column 'r' must be an integer resolution, got {row['r']!r}") from None
        config: dict[str, Any] = {"resolution": resolution}
        config.update({f"stage{stage}.depth": depth for stage, depth in enumerate(lists["d"])})
        for block in range(STAGES * BLOCKS_PER_STAGE):
            config[f"block{block}.kernel_size"] = lists["ks"][block]
            config[f"block{block}.expand_ratio"] = lists["e"][block]
        return self.canonical(config)

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """MACs, parameters and activation sizes of the active network at its resolution."""
        config = self.canonical(config)
        side = math.ceil(config["resolution"] / 2)
        macs = side * side * 3 * FIRST_WIDTH * 9  # first convolution, stride 2
        params = 3 * FIRST_WIDTH * 9 + 2 * FIRST_WIDTH
        activations = side * side * FIRST_WIDTH
        # the first block: 3x3 depthwise and a 1x1 projection, no expansion
        depthwise = side * side * FIRST_WIDTH * 9
        pointwise = side * side * FIRST_WIDTH * FIRST_WIDTH
        params += FIRST_WIDTH * 9 + FIRST_WIDTH * FIRST_WIDTH + 4 * FIRST_WIDTH
        activations += 2 * side * side * FIRST_WIDTH
        width, blocks, squeeze_excite = FIRST_WIDTH, 1, 0
        for stage in range(STAGES):
            for position in range(config[f"stage{stage}.depth"]):
                block = stage * BLOCKS_PER_STAGE + position
                kernel, ratio = config[f"block{block}.kernel_size"], config[f"block{block}.expand_ratio"]
                out_width = STAGE_WIDTHS[stage]
                stride = STAGE_STRIDES[stage] if position == 0 else 1
                middle = _make_divisible(width * ratio)
                out_side = math.ceil(side / stride)
                expand = side * side * width * middle
                depth_macs = out_side * out_side * middle * kernel * kernel
                project = out_side * out_side * middle * out_width
                depthwise += depth_macs
                pointwise += expand + project
                params += width * middle + middle * kernel * kernel + middle * out_width + 2 * (2 * middle + out_width)
                activations += side * side * middle + out_side * out_side * (middle + out_width)
                if STAGE_SQUEEZE_EXCITE[stage]:
                    reduced = _make_divisible(middle / 4)
                    pointwise += 2 * middle * reduced
                    params += 2 * middle * reduced + middle + reduced
                    squeeze_excite += 1
                width, side = out_width, out_side
                blocks += 1
        head = side * side * width * FINAL_EXPAND + FINAL_EXPAND * FEATURE_MIX + FEATURE_MIX * NUM_CLASSES
        pointwise += head
        params += width * FINAL_EXPAND + 2 * FINAL_EXPAND + FINAL_EXPAND * FEATURE_MIX + (FEATURE_MIX + 1) * NUM_CLASSES
        macs += depthwise + pointwise
        return {
            "macs": float(macs), "params": float(params), "activation_elements": float(activations),
            "depthwise_macs": float(depthwise), "pointwise_macs": float(pointwise), "num_blocks": float(blocks),
            "squeeze_excite_blocks": float(squeeze_excite), "resolution": float(config["resolution"]),
        }
