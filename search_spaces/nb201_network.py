"""A NAS-Bench-201 cell as a real network at CIFAR size, for timing it on a runtime.

The network is the benchmark's (Dong and Yang, 2020): a 3x3 convolution stem with batch norm to 16
channels; three stages of five cells (16, 32, 64 channels on 32x32, 16x16, 8x8), with a residual block
between stages (two ReLU-conv-BN 3x3 convolutions, the first with stride 2, beside an average-pooled 1x1
convolution); then batch norm, ReLU, global average pooling and a linear classifier to 10 classes. In a
cell, `nor_conv_kxk` is ReLU-conv-BN, `avg_pool_3x3` a stride-1 pooling that does not count padding,
`skip_connect` the identity, `none` nothing.

Only the live edges are built (`NB201Space.functional_config`): an edge that carries nothing to the
output is computed by no compiled runtime. A node that no live edge reaches holds zeros. The parameter
counts equal `NB201Space.cost_features`' `params` (tests/spaces/test_nb201_network.py checks it).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from search_spaces.nb201 import CELLS_PER_STAGE, EDGES, NODES, NUM_CLASSES, STAGES, edge_key

INPUT_SHAPE = (3, 32, 32)  # one CIFAR image


def build_nb201_network(space: Any, config: Mapping[str, Any]) -> "NB201Network":
    """The network of `config` (an `nb201` config, validated by `space`), fresh weights, eval mode."""
    return NB201Network(space.functional_config(config)).eval()


def relu_conv_bn(inputs: int, outputs: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(outputs))


def operation_module(operation: str, channels: int) -> nn.Module:
    if operation == "skip_connect":
        return nn.Identity()
    if operation == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if operation.startswith("nor_conv_"):
        return relu_conv_bn(channels, channels, int(operation[-1]))
    raise ValueError(f"operation {operation!r} has no module (`none` edges are not built)")


class Cell(nn.Module):
    """One cell: node j sums its live incoming edges; the last node is the output."""

    def __init__(self, operations: Mapping[tuple[int, int], str], channels: int) -> None:
        super().__init__()
        self.edges = [(source, target) for source, target in EDGES if operations[(source, target)] != "none"]
        self.operations = nn.ModuleList(operation_module(operations[edge], channels) for edge in self.edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x] + [None] * (NODES - 1)
        for (source, target), operation in zip(self.edges, self.operations):
            value = operation(nodes[source])
            nodes[target] = value if nodes[target] is None else nodes[target] + value
        output = nodes[NODES - 1]
        return torch.zeros_like(x) if output is None else output


class ResidualReduction(nn.Module):
    """Halves the side and widens the channels: two ReLU-conv-BN 3x3 (stride 2 first) + pooled 1x1 shortcut."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(inputs, outputs, 3, stride=2)
        self.conv_b = relu_conv_bn(outputs, outputs, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(inputs, outputs, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The whole CIFAR-size network of one cell config (a canonical `nb201` config)."""

    def __init__(self, functional_config: Mapping[str, Any]) -> None:
        super().__init__()
        operations = {(source, target): functional_config[edge_key(source, target)] for source, target in EDGES}
        first = STAGES[0][0]
        layers: list[nn.Module] = [nn.Conv2d(3, first, 3, padding=1, bias=False), nn.BatchNorm2d(first)]
        for stage, (channels, _) in enumerate(STAGES):
            if stage:
                layers.append(ResidualReduction(STAGES[stage - 1][0], channels))
            layers.extend(Cell(operations, channels) for _ in range(CELLS_PER_STAGE))
        last = STAGES[-1][0]
        layers += [nn.BatchNorm2d(last), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
