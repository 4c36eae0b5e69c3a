"""Path features of a NAS-Bench-201 cell: what the cell computes, the same for every wiring of it.

A cell's output is the sum, over every path from the input node to the output node along edges that
are not `none`, of that path's operations applied in turn. A `skip_connect` on a path is the identity,
so a path is described by its sequence of the other operations (3x3 convolution, 1x1 convolution,
average pool), at most three long: 1 + 3 + 9 + 27 = 40 sequences. The count of paths with each
sequence is the same for two cells that compute the same sum of compositions (x + conv3(conv3(x))
has 65 wirings in the 15,625 cells; they differ in cost and training noise only), so an accuracy model
fitted on these counts transfers what it measured on one wiring to all of them; a one-hot of the six
edges cannot.

Twelve aggregates over the paths (how deep the convolutions stack, whether an identity or a pooled
path remains, ...) help a tree model reach the structure with few measurements.
"""

from __future__ import annotations

from itertools import product
from typing import Mapping, Sequence

# The operations that change a signal, in a short spelling for feature names.
TRANSFORMS = {"nor_conv_3x3": "c3", "nor_conv_1x1": "c1", "avg_pool_3x3": "ap"}
MAX_PATH_LENGTH = 3
SEQUENCES = tuple(sequence for length in range(MAX_PATH_LENGTH + 1)
                  for sequence in product(TRANSFORMS.values(), repeat=length))
CONVOLUTIONS = ("c3", "c1")


def sequence_name(sequence: Sequence[str]) -> str:
    return "path." + ("-".join(sequence) if sequence else "identity")


def cell_paths(operations: Mapping[tuple[int, int], str], output: int = 3) -> list[tuple[str, ...]]:
    """Every path from node 0 to `output` along edges not `none`, as its sequence of transforms
    (`skip_connect` contracted). `operations` maps (source, target) edges to operation names."""
    paths: list[tuple[str, ...]] = []

    def walk(node: int, sequence: tuple[str, ...]) -> None:
        if node == output:
            paths.append(sequence)
            return
        for (source, target), operation in operations.items():
            if source == node and operation != "none":
                walk(target, sequence + ((TRANSFORMS[operation],) if operation in TRANSFORMS else ()))

    walk(0, ())
    return paths


def path_features(operations: Mapping[tuple[int, int], str], output: int = 3) -> dict[str, float]:
    """Counts of paths by transform sequence (40), and aggregates over the paths (13)."""
    paths = cell_paths(operations, output)
    features = {sequence_name(sequence): 0.0 for sequence in SEQUENCES}
    for path in paths:
        features[sequence_name(path)] += 1.0
    convolutions = [sum(step in CONVOLUTIONS for step in path) for path in paths] or [0]
    features.update({
        "paths": float(len(paths)),
        "paths.identity": float(any(not path for path in paths)),
        "paths.with_convolution": float(sum(count > 0 for count in convolutions)),
        "paths.with_pool": float(sum("ap" in path for path in paths)),
        "paths.pool_only": float(sum(bool(path) and not any(step in CONVOLUTIONS for step in path) for path in paths)),
        "paths.distinct": float(len(set(paths))),
        "paths.longest": float(max((len(path) for path in paths), default=0)),
        "convolutions.deepest": float(max(convolutions)),
        "convolutions.shallowest": float(min(convolutions)),
        "convolutions.mean_depth": float(sum(convolutions) / len(convolutions)),
        "conv3.deepest": float(max((path.count("c3") for path in paths), default=0)),
        "conv3.on_paths": float(sum(path.count("c3") for path in paths)),
        "conv1.on_paths": float(sum(path.count("c1") for path in paths)),
    })
    return features
