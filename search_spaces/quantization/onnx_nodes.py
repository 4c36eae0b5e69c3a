"""Finding a linear layer's node in an exported ONNX graph, shared by every scheme that rewrites one."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from search_spaces.errors import ConfigError


def linear_nodes(model, int8_weights: Mapping[str, object], source: Path) -> dict[str, str]:
    """ONNX node name of each linear layer, found by its weight's values (the exporter renames weights
    and, for functional code, nodes too, so names cannot be matched)."""
    import numpy as np
    from onnx import numpy_helper

    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    candidates = []  # (node name, weight as (out, in))
    for node in model.graph.node:
        if node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in initializers:
            candidates.append((node.name, numpy_helper.to_array(initializers[node.input[1]]).T))
        elif node.op_type == "Gemm" and len(node.input) >= 2 and node.input[1] in initializers:
            trans_b = next((attribute.i for attribute in node.attribute if attribute.name == "transB"), 0)
            array = numpy_helper.to_array(initializers[node.input[1]])
            candidates.append((node.name, array if trans_b else array.T))
    found: dict[str, str] = {}
    for layer, weight in int8_weights.items():
        array = weight.detach().cpu().numpy()
        matches = [name for name, candidate in candidates
                   if candidate.shape == array.shape and np.array_equal(candidate, array)]
        if len(matches) != 1:
            raise ConfigError(f"int8 layer {layer!r}: found {len(matches)} ONNX MatMul/Gemm nodes with its weight "
                              f"in {source} (need exactly 1)")
        found[layer] = matches[0]
    return found
