"""What every static network with per-block precision offers ONNX export: the weights of its int8 and int4 layers,
an fp32 twin with the same weights (the graph a scheme rewrites), and its int8 scheme.

The network must have `shape.blocks` (frozen dataclasses with `precision` and `int8_scheme`), be
constructible as `type(self)(shape)`, and name its quantizable layers `blocks.{i}.{layer}.weight` for
`layer` in `quantized_layers`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any


class PrecisionBlocksMixin:
    quantized_layers: tuple[str, ...] = ()  # the layers of a block that its precision applies to

    def int8_weights(self) -> dict[str, Any]:
        """Weights of the layers that run at int8, by parameter name (for the ONNX rewrite)."""
        return self.weights_at("int8")

    def int4_weights(self) -> dict[str, Any]:
        """Weights of the layers that run at int4 (MatMulNBits), by parameter name."""
        return self.weights_at("int4")

    def weights_at(self, precision: str) -> dict[str, Any]:
        return {f"blocks.{index}.{layer}.weight": self.get_parameter(f"blocks.{index}.{layer}.weight")
                for index, block in enumerate(self.shape.blocks) if block.precision == precision
                for layer in self.quantized_layers}

    @property
    def int4_block_size(self) -> int:
        """The block size of the int4 layers (the space's; 32 when no block runs int4)."""
        return next((getattr(block, "int4_block_size", 32) for block in self.shape.blocks
                     if block.precision == "int4"), 32)

    def as_fp32(self) -> Any:
        """A copy with every layer at fp32 and the same weights: the graph an int8 scheme rewrites."""
        blocks = tuple(replace(block, precision="fp32") for block in self.shape.blocks)
        twin = type(self)(replace(self.shape, blocks=blocks))
        twin.load_state_dict(self.state_dict(), strict=True)
        return twin.eval()

    @property
    def int8_scheme(self) -> str | None:
        """The scheme of the int8 layers, or None when every layer runs fp32."""
        return next((block.int8_scheme for block in self.shape.blocks if block.precision == "int8"), None)
