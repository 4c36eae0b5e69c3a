"""Numeric precisions of layers, and the quantization schemes that run them on a target runtime."""

from search_spaces.quantization.scheme import (
    PRECISIONS,
    SCHEMES,
    QuantizationScheme,
    create_scheme,
    precision_linear,
    register_scheme,
    scheme_names,
)
from search_spaces.quantization import ort_dynamic as _ort_dynamic  # noqa: F401  (registers "ort-dynamic")
from search_spaces.quantization import trt_qdq as _trt_qdq  # noqa: F401  (registers "trt-qdq")

__all__ = ["PRECISIONS", "SCHEMES", "QuantizationScheme", "create_scheme", "precision_linear", "register_scheme",
           "scheme_names"]
