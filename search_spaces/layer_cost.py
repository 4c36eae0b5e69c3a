"""`LayerCost`: what one layer of a network costs, for per-layer latency models and encoders.

A space that can describe its networks layer by layer returns a `LayerCost` for every layer slot of a
config, in a fixed order and with fixed slot names, inactive slots included (with `active=False` and
zero costs where the layer computes nothing), so that per-slot features line up across configs. The
`kind` says what the layer computes (operation, kernel, precision...): layers of one kind are assumed
to cost alike per layer, per MAC and per byte moved, which is what a per-layer additive latency model
learns. `SearchSpace.layer_kinds()` lists every kind a space can produce.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerCost:
    """The analytic costs of one layer slot of one network."""

    slot: str  # where in the network, the same for every config of the space: "block7", "stage1.node3.from_node1"
    kind: str  # what it computes, the key of a per-layer lookup table: "mbconv.k5.e4", "mlp.int8"
    macs: float = 0.0  # multiply-accumulates of the layer (batch 1)
    params: float = 0.0  # parameters (weights and biases)
    activation_bytes: float = 0.0  # bytes of the layer's input and output activations at its precision
    active: bool = True  # False: the slot is not part of this network (inactive block, dead edge)
