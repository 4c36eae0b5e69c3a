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
from search_spaces.layer_cost import LayerCost
from search_spaces.quantization import PRECISIONS

# what `mbv3`'s blocks can run (precisions_argument's default): its configs, and no others, are accepted
MBV3_PRECISIONS = tuple(precision for precision in PRECISIONS if precision in ("int8", "fp32"))
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
                f"block{block}.precision", MBV3_PRECISIONS, "ignored: the table's networks run fp32")

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
        layers = [layer for layer in _layers(config) if layer["active"]]
        total = {name: float(sum(layer[name] for layer in layers))
                 for name in ("depthwise", "pointwise", "params", "activations")}
        return {
            "macs": total["depthwise"] + total["pointwise"] + layers[0]["dense"], "params": total["params"],
            "activation_elements": total["activations"], "depthwise_macs": total["depthwise"],
            "pointwise_macs": total["pointwise"], "num_blocks": float(sum(layer["block"] for layer in layers)),
            "squeeze_excite_blocks": float(sum(layer["squeeze_excite"] for layer in layers)),
            "resolution": float(config["resolution"]),
        }

    def layer_costs(self, config: Mapping[str, Any]) -> list[LayerCost]:
        """The first convolution, the first block, the 20 block slots (inactive ones with zero cost) and
        the head, with MACs and fp32 activation bytes at the config's resolution."""
        return [LayerCost(slot=layer["slot"], kind=layer["kind"], params=float(layer["params"]),
                          macs=float(layer["depthwise"] + layer["pointwise"] + layer["dense"]),
                          activation_bytes=4.0 * layer["activations"], active=layer["active"])
                for layer in _layers(self.canonical(config))]

    def layer_kinds(self) -> tuple[str, ...]:
        blocks = tuple(_block_kind(kernel, ratio, squeeze_excite) for squeeze_excite in (False, True)
                       for kernel in KERNEL_SIZES for ratio in EXPAND_RATIOS)
        return ("first_conv", "first_block", *blocks, "head")


def _block_kind(kernel: int, ratio: int, squeeze_excite: bool) -> str:
    return f"mbconv.k{kernel}.e{ratio}" + (".se" if squeeze_excite else "")


def _layers(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-layer costs of a canonical config: MACs split into dense (the first convolution), depthwise
    and pointwise (1x1 convolutions, squeeze-and-excitation and fully connected layers); activation
    elements read and written."""
    side = math.ceil(config["resolution"] / 2)

    def layer(slot, kind, dense=0, depthwise=0, pointwise=0, params=0, activations=0, block=0, squeeze_excite=0,
              active=True):
        return {"slot": slot, "kind": kind, "dense": dense, "depthwise": depthwise, "pointwise": pointwise,
                "params": params, "activations": activations, "block": block, "squeeze_excite": squeeze_excite,
                "active": active}

    layers = [
        layer("first_conv", "first_conv", dense=side * side * 3 * FIRST_WIDTH * 9,  # stride 2
              params=3 * FIRST_WIDTH * 9 + 2 * FIRST_WIDTH, activations=side * side * FIRST_WIDTH),
        # the first block: 3x3 depthwise and a 1x1 projection, no expansion
        layer("first_block", "first_block", depthwise=side * side * FIRST_WIDTH * 9,
              pointwise=side * side * FIRST_WIDTH * FIRST_WIDTH, params=FIRST_WIDTH * 9 + FIRST_WIDTH * FIRST_WIDTH
              + 4 * FIRST_WIDTH, activations=2 * side * side * FIRST_WIDTH, block=1),
    ]
    width = FIRST_WIDTH
    for stage in range(STAGES):
        for position in range(BLOCKS_PER_STAGE):
            block = stage * BLOCKS_PER_STAGE + position
            kernel, ratio = config[f"block{block}.kernel_size"], config[f"block{block}.expand_ratio"]
            kind = _block_kind(kernel, ratio, STAGE_SQUEEZE_EXCITE[stage])
            if position >= config[f"stage{stage}.depth"]:
                layers.append(layer(f"block{block}", kind, active=False))
                continue
            out_width = STAGE_WIDTHS[stage]
            stride = STAGE_STRIDES[stage] if position == 0 else 1
            middle = _make_divisible(width * ratio)
            out_side = math.ceil(side / stride)
            pointwise = side * side * width * middle + out_side * out_side * middle * out_width
            params = width * middle + middle * kernel * kernel + middle * out_width + 2 * (2 * middle + out_width)
            if STAGE_SQUEEZE_EXCITE[stage]:
                reduced = _make_divisible(middle / 4)
                pointwise += 2 * middle * reduced
                params += 2 * middle * reduced + middle + reduced
            layers.append(layer(f"block{block}", kind, depthwise=out_side * out_side * middle * kernel * kernel,
                                pointwise=pointwise, params=params, block=1,
                                activations=side * side * middle + out_side * out_side * (middle + out_width),
                                squeeze_excite=int(STAGE_SQUEEZE_EXCITE[stage])))
            width, side = out_width, out_side
    layers.append(layer("head", "head", pointwise=side * side * width * FINAL_EXPAND + FINAL_EXPAND * FEATURE_MIX
                        + FEATURE_MIX * NUM_CLASSES, params=width * FINAL_EXPAND + 2 * FINAL_EXPAND
                        + FINAL_EXPAND * FEATURE_MIX + (FEATURE_MIX + 1) * NUM_CLASSES,
                        activations=side * side * (width + FINAL_EXPAND) + FINAL_EXPAND + FEATURE_MIX + NUM_CLASSES))
    return layers
