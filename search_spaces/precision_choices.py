"""Per-block precision choices, shared by every family whose blocks run at fp32, int8 (or int4).

A space built with more than one precision has one `block{i}.precision` key per block slot; with one
precision it has none and every block runs at it. Values ascend by bits (int8, fp32), so the smallest
network of a space is its lowest precision and the largest its highest. A family lists the precisions its
blocks can run in `trainable_precisions` (the transformers: int4, int8, fp32; `mbv3`: int8, fp32).
"""

from __future__ import annotations

from typing import Any, Mapping

from search_spaces.space import Choice


class PrecisionChoices:
    """Mixin for a SearchSpace; call `_set_precisions` in `__init__`, then `_add_precision_choice` per block."""

    precisions: tuple[str, ...] = ("fp32",)
    int8_scheme: str = "ort-dynamic"
    int4_block_size: int = 32  # int4 layers: weights per scale (the space argument `int4_block_size`)
    # the precisions the family's blocks can run (a class attribute: `precision_arguments` reads it)
    trainable_precisions: tuple[str, ...] = ("int8", "fp32")

    def _set_precisions(self, precisions: tuple[str, ...], int8_scheme: str, int4_block_size: int = 32) -> None:
        self.precisions, self.int8_scheme, self.int4_block_size = precisions, int8_scheme, int4_block_size

    def _add_precision_choice(self, index: int, layers: str) -> None:
        if len(self.precisions) > 1:
            key = f"block{index}.precision"
            self.choices[key] = Choice(key, self.precisions,
                                       f"precision of block {index}'s {layers} (int8: {self.int8_scheme}"
                                       + (f"; int4: MatMulNBits, blocks of {self.int4_block_size})"
                                          if "int4" in self.precisions else ")"))

    @property
    def precision_keys(self) -> list[str]:
        """The `block{i}.precision` keys (none when the space has one precision)."""
        return [key for key in self.choices if key.endswith(".precision")]

    def anchors(self) -> list[dict[str, Any]]:
        """The largest and the smallest architecture, each at every precision."""
        return [self.at_precision(architecture, precision)
                for architecture in (self.largest(), self.smallest()) for precision in self.precisions]

    def block_precision(self, config: Mapping[str, Any], index: int) -> str:
        return config.get(f"block{index}.precision", self.precisions[0])
