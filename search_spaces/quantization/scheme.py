"""`QuantizationScheme`: how one runtime executes int8 layers, in torch (fake quantization, used in
training and evaluation) and in ONNX (the graph rewrite that makes the runtime use integer kernels).

A scheme is registered by name (``@register_scheme("ort-dynamic")``); a hardware profile names the
scheme its runtime executes (``int8_scheme``) and a space built for that profile uses it, so what the
search evaluates is the arithmetic the deployed model runs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from nas.registry import Registry
from search_spaces.errors import ConfigError

# Known precisions, from the fewest bits to the most: a Choice's values ascend, so the smallest network
# of a space is its lowest precision and the largest its highest. A space offers the subset its
# hardware profile runs.
PRECISIONS = ("int4", "int8", "fp32")


class QuantizationScheme:
    """Base class. Subclasses implement `fake_linear` (torch) and `quantize_onnx` (ONNX rewrite)."""

    name = "abstract"  # set by @register_scheme
    description = ""
    weight_qmax = 127  # weights are symmetric int8 in -weight_qmax..weight_qmax

    @property
    def exact_without_int8_dot_product(self) -> bool:
        """Whether an x86 CPU without VNNI/AMX runs this scheme's integer kernel exactly. Its u8 x s8 kernel
        (AVX2 vpmaddubsw) adds pairs of products in saturating int16: exact while 255 * qmax * 2 fits."""
        return 255 * self.weight_qmax * 2 <= 2**15 - 1

    def fake_linear(self, x, weight, bias):
        """`F.linear(x, weight, bias)` as the runtime computes it at int8, differentiable (straight-through)."""
        raise NotImplementedError

    def quantize_onnx(self, source: Path, target: Path, int8_weights: Mapping[str, object],
                      calibration: Iterable | None = None) -> int:
        """Rewrite the fp32 ONNX file `source` into `target` with the linear layers whose weights are
        `int8_weights` (name -> torch weight of shape (out, in)) running integer kernels; return how many.
        `calibration`: model inputs (numpy arrays) for schemes with static activation scales; schemes
        that quantize activations at run time ignore it."""
        raise NotImplementedError

    def integer_operators(self) -> tuple[str, ...]:
        """Operator types of ONNX Runtime's optimized graph that prove an int8 layer runs integer kernels."""
        raise NotImplementedError


SCHEMES: Registry[type[QuantizationScheme]] = Registry("int8_scheme", base=QuantizationScheme)

register_scheme = SCHEMES.register
scheme_names = SCHEMES.names


@lru_cache(maxsize=None)
def create_scheme(name: str) -> QuantizationScheme:
    """The scheme registered as `name` (schemes hold no state, so one instance serves every caller)."""
    return SCHEMES.create(name)


def precision_linear(x, weight, bias, precision: str, scheme: str, int4_block_size: int = 32):
    """A linear layer at `precision`: "fp32", "int8" executed as `scheme` does, or "int4" (block-wise weights
    of `int4_block_size`, float activations, as MatMulNBits runs them)."""
    run = _LINEAR_AT.get(precision)
    if run is None:
        raise ConfigError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return run(x, weight, bias, scheme, int4_block_size)


def _fp32_linear(x, weight, bias, scheme, block_size):
    import torch.nn.functional as F

    return F.linear(x, weight, bias)


def _int8_linear(x, weight, bias, scheme, block_size):
    return create_scheme(scheme).fake_linear(x, weight, bias)


def _int4_linear(x, weight, bias, scheme, block_size):
    from search_spaces.quantization.int4_blockwise import fake_linear

    return fake_linear(x, weight, bias, block_size)


_LINEAR_AT = {"fp32": _fp32_linear, "int8": _int8_linear, "int4": _int4_linear}
