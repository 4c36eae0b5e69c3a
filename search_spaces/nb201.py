"""The `nb201` space: the NAS-Bench-201 cell, a tabular benchmark space (no trainable supernet here).

A cell has an input node (0) and three nodes; node j sums one operation on each edge from every earlier
node, and node 3 is the cell's output. The network stacks the cell 5 times in each of three stages
(16, 32, 64 channels on 32x32, 16x16, 8x8 inputs), with a residual block that halves the size between
stages. Keys are spelled out by edge, ``node2.from_node1``; the standard ``arch_str`` is parsed by
``from_arch_str`` and printed by ``to_arch_str``.

Every one of the 15,625 configs is its own network, as in the published tables (no canonicalisation of
isomorphic cells), but ``live_edges`` knows which edges carry signal from the input to the output:
an edge that is ``none``, or that starts at a node the input cannot reach, or ends at a node that
cannot reach the output, changes nothing and costs nothing (``functional_config`` sets such edges to
``none``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from search_spaces.errors import ConfigError
from search_spaces.layer_cost import LayerCost
from search_spaces.nb201_paths import path_features
from search_spaces.registry import register_space
from search_spaces.space import Choice, SearchSpace

# Ascending cost, so the smallest network is all `none` and the largest all 3x3 convolutions.
OPERATIONS = ("none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
NODES = 4  # input node 0, then nodes 1..3; node 3 is the output
EDGES = tuple((source, target) for target in range(1, NODES) for source in range(target))  # arch_str order
STAGES = ((16, 32), (32, 16), (64, 8))  # (channels, side) of the three stages
CELLS_PER_STAGE = 5
NUM_CLASSES = 10
_NODE_PATTERN = re.compile(r"^\|(.+)\|$")


def edge_key(source: int, target: int) -> str:
    return f"node{target}.from_{'input' if source == 0 else f'node{source}'}"


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 cell: an operation on each of the six edges of a four-node cell."""

    # A latency model here is affine in every cost feature: what the live network costs (compiled
    # runtimes drop dead edges) and what an eager runtime computes (every edge that is not `none`).
    analytic_features = ("macs", "params", "cell_macs", "pool_elements", "computed_macs", "live_edges", "connected",
                         "live_skip_connect", "live_avg_pool_3x3", "live_nor_conv_1x1", "live_nor_conv_3x3",
                         "all_skip_connect", "all_avg_pool_3x3", "all_nor_conv_1x1", "all_nor_conv_3x3")

    def __init__(self) -> None:
        super().__init__()
        self.choices = {
            edge_key(source, target): Choice(edge_key(source, target), OPERATIONS,
                                             f"operation on the edge from node {source} to node {target}")
            for source, target in EDGES
        }

    # ------------------------------------------------------------------ arch_str
    def from_arch_str(self, arch_str: str) -> dict[str, str]:
        """The config of a NAS-Bench-201 string such as ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|``."""
        if not isinstance(arch_str, str):
            raise ConfigError(f"arch_str must be a string, got {type(arch_str).__name__}")
        nodes = arch_str.strip().split("+")
        if len(nodes) != NODES - 1:
            raise ConfigError(f"arch_str {arch_str!r}: expected {NODES - 1} nodes separated by '+', got {len(nodes)}")
        config: dict[str, str] = {}
        for target, node in enumerate(nodes, start=1):
            match = _NODE_PATTERN.match(node)
            edges = match.group(1).split("|") if match else []
            if len(edges) != target:
                raise ConfigError(f"arch_str {arch_str!r}: node {target} must list {target} edge(s) as "
                                  f"'|op~source|', got {node!r}")
            for expected_source, edge in enumerate(edges):
                operation, _, source = edge.partition("~")
                if source != str(expected_source):
                    raise ConfigError(f"arch_str {arch_str!r}: node {target} edge {edge!r} must come from node "
                                      f"{expected_source}")
                if operation not in OPERATIONS:
                    raise ConfigError(f"arch_str {arch_str!r}: unknown operation {operation!r}; "
                                      f"allowed: {', '.join(OPERATIONS)}")
                config[edge_key(expected_source, target)] = operation
        return config

    def config_from_row(self, row: Mapping[str, str]) -> dict[str, str]:
        if "arch_str" not in row:
            raise ConfigError(f"an nb201 table needs an 'arch_str' column; it has {', '.join(row)}")
        return self.from_arch_str(row["arch_str"])

    def to_arch_str(self, config: Mapping[str, Any]) -> str:
        config = self.validate(config)
        return "+".join("|" + "|".join(f"{config[edge_key(source, target)]}~{source}" for source in range(target)) + "|"
                        for target in range(1, NODES))

    # ------------------------------------------------------------------ structure
    def live_edges(self, config: Mapping[str, Any]) -> list[tuple[int, int]]:
        """Edges (source, target) on some path from the input to the output with no `none` on it."""
        config = self.validate(config)
        present = [(s, t) for s, t in EDGES if config[edge_key(s, t)] != "none"]
        from_input = {0}
        for source, target in present:  # EDGES are in topological order
            if source in from_input:
                from_input.add(target)
        to_output = {NODES - 1}
        for source, target in reversed(present):
            if target in to_output:
                to_output.add(source)
        return [(s, t) for s, t in present if s in from_input and t in to_output]

    def functional_config(self, config: Mapping[str, Any]) -> dict[str, str]:
        """The config with every edge that is not live set to `none`: the same function."""
        config = self.validate(config)
        live = set(self.live_edges(config))
        return {edge_key(s, t): config[edge_key(s, t)] if (s, t) in live else "none" for s, t in EDGES}

    def function_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """Counts of the cell's input-to-output paths by their sequence of operations (skips contracted),
        aggregates over those paths (`search_spaces.nb201_paths`), and the live network's MACs, parameters
        and pooled elements: equal for every wiring of the same cell function."""
        config = self.validate(config)
        costs = self.cost_features(config)
        operations = {(s, t): config[edge_key(s, t)] for s, t in EDGES}
        return {**path_features(operations, output=NODES - 1),
                **{name: costs[name] for name in ("macs", "params", "pool_elements")}}

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """MACs and parameters of the network with only its live edges, and live operations by type."""
        config = self.validate(config)
        live = self.live_edges(config)
        operations = [config[edge_key(s, t)] for s, t in live]
        cell_macs, cell_params, pool_elements = _cell_costs(operations)
        fixed_macs, fixed_params = _fixed_costs()
        live_traffic = sum(_edge_traffic(operation, channels, side)
                           for operation in operations for channels, side in STAGES)
        counts = {f"live_{operation}": float(operations.count(operation)) for operation in OPERATIONS[1:]}
        # What an eager runtime computes: every edge that is not `none`, live or not.
        every = [operation for operation in config.values() if operation != "none"]
        computed_macs = _cell_costs(every)[0]
        counts.update({f"all_{operation}": float(every.count(operation)) for operation in OPERATIONS[1:]})
        return {
            "macs": fixed_macs + cell_macs,
            "params": fixed_params + cell_params,
            "cell_macs": cell_macs,
            "pool_elements": pool_elements,
            "activation_elements": _fixed_traffic() + live_traffic,  # memory traffic: elements read and written
            "computed_macs": fixed_macs + computed_macs,
            "live_edges": float(len(live)),
            "connected": float(bool(live)),  # False: the input never reaches the output
            **counts,
        }

    def layer_costs(self, config: Mapping[str, Any]) -> list[LayerCost]:
        """The stem, each edge of each stage (its five cells together; `active` when the edge is live,
        kind `<operation>.stage<s>`, or `<operation>.stage<s>.dead` for an edge that is not `none` but
        carries nothing to the output, which an eager runtime computes anyway), the two reduction
        blocks and the classifier. Activation bytes are fp32 elements read and written."""
        config = self.validate(config)
        live = set(self.live_edges(config))
        stem_macs, reduction_macs, reduction_params, classifier_macs, classifier_params = _fixed_layers()
        layers = [LayerCost("stem", "stem", macs=stem_macs, params=float(3 * 16 * 9 + 2 * 16),
                            activation_bytes=4.0 * (32 * 32 * (3 + 16)))]
        for stage, (channels, side) in enumerate(STAGES):
            if stage:
                layers.append(LayerCost(f"reduction{stage}", f"reduction{stage}", macs=reduction_macs[stage - 1],
                                        params=reduction_params[stage - 1],
                                        activation_bytes=4.0 * _reduction_traffic(stage)))
            for source, target in EDGES:
                operation = config[edge_key(source, target)]
                macs, params, _ = _cell_costs([operation], ((channels, side),))
                kind = "none" if operation == "none" else f"{operation}.stage{stage}" + (
                    "" if (source, target) in live else ".dead")
                layers.append(LayerCost(f"stage{stage}.{edge_key(source, target)}", kind, macs=macs, params=params,
                                        activation_bytes=4.0 * _edge_traffic(operation, channels, side),
                                        active=(source, target) in live))
        layers.append(LayerCost("classifier", "classifier", macs=classifier_macs, params=classifier_params,
                                activation_bytes=4.0 * (STAGES[-1][0] * (STAGES[-1][1] ** 2 + 1) + NUM_CLASSES)))
        return layers

    def layer_kinds(self) -> tuple[str, ...]:
        edges = tuple(f"{operation}.stage{stage}{suffix}" for stage in range(len(STAGES))
                      for operation in OPERATIONS[1:] for suffix in ("", ".dead"))
        return ("stem", "reduction1", "reduction2", "none", *edges, "classifier")


def _edge_traffic(operation: str, channels: int, side: int) -> float:
    """Activation elements one edge reads and writes in the five cells of a stage (identity: none)."""
    if operation in ("none", "skip_connect"):
        return 0.0
    return float(CELLS_PER_STAGE * 2 * side * side * channels)


def _reduction_traffic(stage: int) -> float:
    (channels, side), (wide, out_side) = STAGES[stage - 1], STAGES[stage]
    return float(side * side * channels + 3 * out_side * out_side * wide)


def _fixed_traffic() -> float:
    return float(32 * 32 * (3 + 16) + sum(_reduction_traffic(stage) for stage in (1, 2))
                 + STAGES[-1][0] * (STAGES[-1][1] ** 2 + 1) + NUM_CLASSES)


def _fixed_layers() -> tuple[float, list[float], list[float], float, float]:
    """MACs and parameters of the stem, of each reduction block and of the classifier."""
    stem_macs = float(32 * 32 * 3 * 16 * 9)
    macs, params = [], []
    for (channels, _), (wide, side) in zip(STAGES, STAGES[1:]):
        pixels = side * side
        macs.append(float(pixels * channels * wide * 9 + pixels * wide * wide * 9 + pixels * channels * wide))
        params.append(float(channels * wide * 9 + wide * wide * 9 + channels * wide + 4 * wide))
    classifier_macs = float(STAGES[-1][0] * NUM_CLASSES)
    classifier_params = float(2 * STAGES[-1][0] + (STAGES[-1][0] + 1) * NUM_CLASSES)
    return stem_macs, macs, params, classifier_macs, classifier_params


def _cell_costs(operations: list[str], stages: tuple = STAGES) -> tuple[float, float, float]:
    """(MACs, parameters, pooled elements) of cells holding `operations`, over the 5 cells of each stage."""
    macs = params = pool_elements = 0.0
    for channels, side in stages:
        pixels = side * side
        for operation in operations:
            if operation.startswith("nor_conv"):
                kernel = int(operation[-1])
                macs += CELLS_PER_STAGE * pixels * channels * channels * kernel * kernel
                params += CELLS_PER_STAGE * (channels * channels * kernel * kernel + 2 * channels)
            elif operation == "avg_pool_3x3":
                pool_elements += CELLS_PER_STAGE * pixels * channels * 9
    return macs, params, pool_elements


def _fixed_costs() -> tuple[float, float]:
    """MACs and parameters outside the cells: stem, two residual reduction blocks, classifier."""
    stem_macs, reduction_macs, reduction_params, classifier_macs, classifier_params = _fixed_layers()
    return (stem_macs + sum(reduction_macs) + classifier_macs,
            3 * 16 * 9 + 2 * 16 + sum(reduction_params) + classifier_params)
