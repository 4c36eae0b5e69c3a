"""Per-block precision choices, shared by every family whose blocks run at fp32 or int8.

A space built with more than one precision has one `block{i}.precision` key per block slot; with one
precision it has none and every block runs at it. Values ascend by bits (int8, fp32), so the smallest
network of a space is its lowest precision and the largest its highest.
"""

from __future__ import annotations

from typing import Any, Mapping

from search_spaces.space import Choice


class PrecisionChoices:
    """Mixin for a SearchSpace; call `_set_precisions` in `__init__`, then `_add_precision_choice` per block."""

    precisions: tuple[str, ...] = ("fp32",)
    int8_scheme: str = "ort-dynamic"

    def _set_precisions(self, precisions: tuple[str, ...], int8_scheme: str) -> None:
        self.precisions, self.int8_scheme = precisions, int8_scheme

    def _add_precision_choice(self, index: int, layers: str) -> None:
        if len(self.precisions) > 1:
            key = f"block{index}.precision"
            self.choices[key] = Choice(key, self.precisions,
                                       f"precision of block {index}'s {layers} (int8: {self.int8_scheme})")

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
