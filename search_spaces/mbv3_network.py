"""The network of the `mbv3` space: a static once-for-all MobileNetV3 and its weight-sharing supernet.

Both run `mobilenet_forward` on a dict of weights named as in the static network's state dict, and call
their BatchNorm layers by name (the supernet's normalise the first-k channels: `ElasticBatchNorm2d`), so
`supernet.extract(config)` is a plain copy of slices and running statistics.

Elastic per block: the expand ratio (first-k middle channels), the depthwise kernel size and, with int8,
the precision of the two pointwise layers; per stage: the depth (the first blocks); and the input
resolution (the input is resized by bilinear interpolation before the first convolution).

**Kernel sizes: a learned transform of the centre, as in once-for-all.** Each block keeps one 7x7
depthwise kernel. A 5x5 kernel is its centre 5x5 times a learned 25x25 matrix, a 3x3 kernel the centre of
that 5x5 kernel times a learned 9x9 matrix (one matrix per block and size, shared by all channels,
initialised to the identity). With plain slicing the centre weights must serve both as a small kernel
and as the middle of a large one, whose weight distributions differ; once-for-all's ablation found the
transform more accurate for the same training, and it costs 706 parameters per block in the supernet
and nothing in an extracted network (which holds the transformed kernel). A transformed kernel is not a
slice of a stored weight, so for the elastic bundle the supernet offers each slot's transformed kernels
of all channels as extra tensors (`slice_sources`: "blocks.3.depthwise.kernel5"); the transform acts on
each channel alone, so a sub-network's kernel is the first channels of that tensor (`weight_slices`).

**Pointwise layers and int8.** An fp32 block runs its 1x1 layers as Conv (fastest in ONNX Runtime). An
int8 block runs them as a channels-last MatMul, because ONNX Runtime's dynamic quantization has fast
integer kernels for MatMul (`DynamicQuantizeMatMul`) and only a slow `ConvInteger` for Conv (measured
on this CPU: 10-15x slower than fp32 Conv). The layout is part of the block's shape, so the fp32 twin
that export quantizes keeps the MatMul nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.batch_norm import ElasticBatchNorm2d
from search_spaces.quantization import precision_linear
from search_spaces.quantization.precision_network import PrecisionBlocksMixin
from search_spaces.weight_sharing import load_copies, prefixed
from search_spaces.weight_slice import WeightSlice, full_slice, prefix_slice

POINTWISE_LAYERS = ("expand", "project")  # the layers a block's precision applies to
NORMS = ("expand_norm", "depthwise_norm", "project_norm")
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "hswish": F.hardswish}


@dataclass(frozen=True)
class MBConvShape:
    """The active size of one inverted-residual block."""

    in_channels: int
    mid_channels: int  # after the 1x1 expansion (in_channels x expand ratio, divisible by 8)
    out_channels: int
    kernel_size: int  # of the depthwise convolution
    stride: int
    activation: str  # "relu" or "hswish"
    se_channels: int  # squeeze-and-excitation width (0: no squeeze-and-excitation)
    precision: str = "fp32"  # of the two pointwise layers: "fp32" or "int8"
    int8_scheme: str = "ort-dynamic"
    pointwise: str = "conv"  # "conv" (1x1 Conv) or "matmul" (channels-last MatMul, what int8 layers need)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


@dataclass(frozen=True)
class MobileNetShape:
    """The active size of a whole network."""

    in_channels: int
    image_size: int  # side of the input images
    input_side: int  # side the input is resized to (the resolution choice)
    first_channels: int  # of the first convolution and the first (fixed) block
    blocks: tuple[MBConvShape, ...]  # the active blocks, in order
    slots: tuple[int, ...]  # the supernet block slot of each active block
    final_channels: int  # of the last 1x1 convolution
    feature_channels: int  # of the layer before the classifier
    num_classes: int


def pointwise(x: Tensor, weight: Tensor, shape: MBConvShape) -> Tensor:
    """A 1x1 layer (weight: out x in, no bias) at the block's precision and layout."""
    if shape.pointwise == "conv" and shape.precision == "fp32":
        return F.conv2d(x, weight[:, :, None, None])
    channels_last = precision_linear(x.permute(0, 2, 3, 1), weight, None, shape.precision, shape.int8_scheme)
    return channels_last.permute(0, 3, 1, 2)


def mbconv_forward(x: Tensor, params: Mapping[str, Tensor], shape: MBConvShape,
                   norm: Callable[[str, Tensor], Tensor]) -> Tensor:
    """Expand (1x1), depthwise (k x k), squeeze-and-excite, project (1x1); residual when shapes allow."""
    activation = ACTIVATIONS[shape.activation]
    hidden = activation(norm("expand_norm", pointwise(x, params["expand.weight"], shape)))
    hidden = F.conv2d(hidden, params["depthwise.weight"], stride=shape.stride, padding=shape.kernel_size // 2,
                      groups=shape.mid_channels)
    hidden = activation(norm("depthwise_norm", hidden))
    if shape.se_channels:
        squeezed = F.relu(F.linear(hidden.mean(dim=(2, 3)), params["se_reduce.weight"], params["se_reduce.bias"]))
        scale = F.hardsigmoid(F.linear(squeezed, params["se_expand.weight"], params["se_expand.bias"]))
        hidden = hidden * scale[:, :, None, None]
    out = norm("project_norm", pointwise(hidden, params["project.weight"], shape))
    return x + out if shape.residual else out


def mobilenet_forward(images: Tensor, params: Mapping[str, Tensor], shape: MobileNetShape,
                      norm: Callable[[str, Tensor], Tensor]) -> Tensor:
    """Logits of `images` (batch, channels, image_size, image_size). `norm(name, x)` applies the BatchNorm
    layer `name` (a state-dict prefix such as "blocks.3.expand_norm")."""
    x = images
    if shape.input_side != shape.image_size:
        x = F.interpolate(x, size=(shape.input_side, shape.input_side), mode="bilinear", align_corners=False)
    x = F.hardswish(norm("first_norm", F.conv2d(x, params["first_conv.weight"], stride=2, padding=1)))
    hidden = F.conv2d(x, params["first_depthwise.weight"], padding=1, groups=shape.first_channels)
    hidden = F.relu(norm("first_depthwise_norm", hidden))
    x = x + norm("first_project_norm", F.conv2d(hidden, params["first_project.weight"]))
    for index, block in enumerate(shape.blocks):
        x = mbconv_forward(x, prefixed(params, f"blocks.{index}."), block,
                           lambda name, t, index=index: norm(f"blocks.{index}.{name}", t))
    x = F.hardswish(norm("final_norm", F.conv2d(x, params["final_expand.weight"])))
    x = F.hardswish(F.linear(x.mean(dim=(2, 3)), params["feature_mix.weight"]))
    return F.linear(x, params["classifier.weight"], params["classifier.bias"])


def _pointwise_weight(out_channels: int, in_channels: int) -> nn.Parameter:
    weight = torch.empty(out_channels, in_channels)
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
    return nn.Parameter(weight)


class MBConvBlock(nn.Module):
    """Weights of one block of one shape; `norm_class` makes the BatchNorm layers."""

    def __init__(self, shape: MBConvShape, norm_class: type[nn.BatchNorm2d] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.shape = shape
        mid = shape.mid_channels
        self.expand = nn.Module()
        self.expand.weight = _pointwise_weight(mid, shape.in_channels)
        self.expand_norm = norm_class(mid)
        self.depthwise = nn.Module()
        self.depthwise.weight = nn.Parameter(torch.empty(mid, 1, shape.kernel_size, shape.kernel_size))
        nn.init.kaiming_normal_(self.depthwise.weight, mode="fan_out")
        self.depthwise_norm = norm_class(mid)
        if shape.se_channels:
            self.se_reduce = nn.Linear(mid, shape.se_channels)
            self.se_expand = nn.Linear(shape.se_channels, mid)
        self.project = nn.Module()
        self.project.weight = _pointwise_weight(shape.out_channels, mid)
        self.project_norm = norm_class(shape.out_channels)


class MobileNetNetwork(PrecisionBlocksMixin, nn.Module):
    """A static network of one shape: what `extract` returns and what is exported."""

    quantized_layers = POINTWISE_LAYERS
    input_dtype = "float32"

    def __init__(self, shape: MobileNetShape) -> None:
        super().__init__()
        self.shape = shape
        self._make_fixed_layers(shape, nn.BatchNorm2d)
        self.blocks = nn.ModuleList(MBConvBlock(block) for block in shape.blocks)

    def _make_fixed_layers(self, shape: MobileNetShape, norm_class: type[nn.BatchNorm2d]) -> None:
        first, last = shape.first_channels, shape.blocks[-1].out_channels
        self.first_conv = nn.Conv2d(shape.in_channels, first, 3, stride=2, padding=1, bias=False)
        self.first_norm = norm_class(first)
        self.first_depthwise = nn.Conv2d(first, first, 3, padding=1, groups=first, bias=False)
        self.first_depthwise_norm = norm_class(first)
        self.first_project = nn.Conv2d(first, first, 1, bias=False)
        self.first_project_norm = norm_class(first)
        self.final_expand = nn.Conv2d(last, shape.final_channels, 1, bias=False)
        self.final_norm = norm_class(shape.final_channels)
        self.feature_mix = nn.Linear(shape.final_channels, shape.feature_channels, bias=False)
        self.classifier = nn.Linear(shape.feature_channels, shape.num_classes)

    def _norm(self, name: str, x: Tensor) -> Tensor:
        return self.get_submodule(name)(x)

    def forward(self, images: Tensor) -> Tensor:
        return mobilenet_forward(images, dict(self.named_parameters()), self.shape, self._norm)


FIXED_PARAMETERS = ("first_conv.weight", "first_depthwise.weight", "first_project.weight", "final_expand.weight",
                    "feature_mix.weight", "classifier.weight", "classifier.bias")
FIXED_NORMS = ("first_norm", "first_depthwise_norm", "first_project_norm", "final_norm")


class ElasticMBConvBlock(MBConvBlock):
    """The largest block of a slot; runs any smaller shape on its weights (kernels through the learned
    centre transforms, see the module docstring)."""

    def __init__(self, shape: MBConvShape, kernel_sizes: tuple[int, ...]) -> None:
        super().__init__(shape, ElasticBatchNorm2d)
        self.kernel_sizes = kernel_sizes  # ascending; the largest is shape.kernel_size
        for small, large in zip(kernel_sizes, kernel_sizes[1:]):
            self.register_parameter(f"transform_{large}to{small}", nn.Parameter(torch.eye(small * small)))

    def depthwise_kernel(self, kernel_size: int, channels: int) -> Tensor:
        kernel = self.depthwise.weight[:channels]
        for large, small in zip(reversed(self.kernel_sizes), reversed(self.kernel_sizes[:-1])):
            if kernel_size > small:
                break
            start = (large - small) // 2
            centre = kernel[:, :, start:start + small, start:start + small].reshape(channels, small * small)
            kernel = F.linear(centre, getattr(self, f"transform_{large}to{small}")).reshape(channels, 1, small, small)
        return kernel

    def sliced_state(self, shape: MBConvShape, norms: bool = True) -> dict[str, Tensor]:
        """The state dict of a static block of `shape` (without BatchNorm when `norms` is False), read
        through `weight_slices`, so what is copied and what is described cannot differ; weights keep
        their gradients (the supernet's forward runs on them)."""
        sources = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        if shape.kernel_size != self.kernel_sizes[-1]:  # computed from the largest kernel, for these channels
            sources[f"depthwise.kernel{shape.kernel_size}"] = self.depthwise_kernel(shape.kernel_size, shape.mid_channels)
        return {name: part.apply(sources[part.source]) for name, part in self.weight_slices(shape, "").items()
                if norms or "_norm." not in name}

    def weight_slices(self, shape: MBConvShape, prefix: str) -> dict[str, WeightSlice]:
        """Where each tensor of a static block of `shape` lies among `slice_sources` (names of the static
        block's state dict, unprefixed; sources prefixed with this slot's `prefix`)."""
        mid, se, out, kernel = shape.mid_channels, shape.se_channels, shape.out_channels, shape.kernel_size
        depthwise = f"{prefix}depthwise.weight" if kernel == self.kernel_sizes[-1] else f"{prefix}depthwise.kernel{kernel}"
        slices = {"expand.weight": prefix_slice(f"{prefix}expand.weight", (mid, self.expand.weight.shape[1])),
                  "depthwise.weight": prefix_slice(depthwise, (mid, 1, kernel, kernel)),
                  "project.weight": prefix_slice(f"{prefix}project.weight", (out, mid))}
        if se:
            slices.update({"se_reduce.weight": prefix_slice(f"{prefix}se_reduce.weight", (se, mid)),
                           "se_reduce.bias": prefix_slice(f"{prefix}se_reduce.bias", (se,)),
                           "se_expand.weight": prefix_slice(f"{prefix}se_expand.weight", (mid, se)),
                           "se_expand.bias": prefix_slice(f"{prefix}se_expand.bias", (mid,))})
        for name, width in (("expand_norm", mid), ("depthwise_norm", mid), ("project_norm", out)):
            slices.update({f"{name}.{key}": prefix_slice(f"{prefix}{name}.{key}", (width,))
                           for key in ("weight", "bias", "running_mean", "running_var")})
            slices[f"{name}.num_batches_tracked"] = full_slice(f"{prefix}{name}.num_batches_tracked", ())
        return slices

    def transformed_kernels(self) -> dict[str, Tensor]:
        """Every smaller kernel size's transformed kernel of all channels, named "depthwise.kernel{k}"."""
        channels = self.depthwise.weight.shape[0]
        return {f"depthwise.kernel{kernel}": self.depthwise_kernel(kernel, channels).detach()
                for kernel in self.kernel_sizes[:-1]}


class MobileNetSupernet(MobileNetNetwork):
    """Every block slot at its largest; `forward(images, config)` runs any sub-network of its space."""

    def __init__(self, space: Any) -> None:
        nn.Module.__init__(self)
        self.space = space
        self.shape = space.shape(space.largest())
        self._make_fixed_layers(self.shape, ElasticBatchNorm2d)
        self.blocks = nn.ModuleList(ElasticMBConvBlock(block, space.kernel_sizes) for block in space.slot_shapes())

    def sliced_parameters(self, shape: MobileNetShape) -> dict[str, Tensor]:
        return {**{name: self.get_parameter(name) for name in FIXED_PARAMETERS}, **self._blocks_state(shape, norms=False)}

    def _blocks_state(self, shape: MobileNetShape, norms: bool) -> dict[str, Tensor]:
        """Every block's `sliced_state`, named as in the static network (`blocks.{index}.`)."""
        return {f"blocks.{index}.{name}": value for index, (slot, block) in enumerate(zip(shape.slots, shape.blocks))
                for name, value in self.blocks[slot].sliced_state(block, norms).items()}

    def forward(self, images: Tensor, config: Mapping[str, Any] | None = None) -> Tensor:
        shape = self.shape if config is None else self.space.shape(config)

        def norm(name: str, x: Tensor) -> Tensor:
            if name.startswith("blocks."):
                index, rest = name[len("blocks."):].split(".", 1)
                name = f"blocks.{shape.slots[int(index)]}.{rest}"
            return self.get_submodule(name)(x)

        return mobilenet_forward(images, self.sliced_parameters(shape), shape, norm)

    @torch.no_grad()
    def slice_sources(self) -> dict[str, Tensor]:
        """The tensors `weight_slices` index: the state dict and each slot's transformed kernels."""
        sources = dict(self.state_dict())
        for slot, block in enumerate(self.blocks):
            sources.update({f"blocks.{slot}.{name}": kernel for name, kernel in block.transformed_kernels().items()})
        return sources

    def weight_slices(self, config: Mapping[str, Any]) -> dict[str, WeightSlice]:
        """Where every tensor of `extract(config)`'s state dict lies among `slice_sources()`; `extract`
        copies exactly these (tested for every space); the elastic bundle stores them."""
        shape = self.space.shape(config)
        state = self.state_dict()
        slices = {name: full_slice(name, tuple(state[name].shape)) for name in FIXED_PARAMETERS}
        for name in FIXED_NORMS:
            slices.update({f"{name}.{key}": full_slice(f"{name}.{key}", tuple(value.shape))
                           for key, value in self.get_submodule(name).state_dict().items()})
        for index, (slot, block) in enumerate(zip(shape.slots, shape.blocks)):
            slices.update({f"blocks.{index}.{name}": part
                           for name, part in self.blocks[slot].weight_slices(block, f"blocks.{slot}.").items()})
        return slices

    @torch.no_grad()
    def extract(self, config: Mapping[str, Any]) -> MobileNetNetwork:
        """A new static network with copies of the active weights and running statistics."""
        shape = self.space.shape(config)
        state = {name: self.get_parameter(name) for name in FIXED_PARAMETERS}
        for name in FIXED_NORMS:
            state.update({f"{name}.{key}": value for key, value in self.get_submodule(name).state_dict().items()})
        return load_copies(MobileNetNetwork(shape), {**state, **self._blocks_state(shape, norms=True)})
