"""Export formats: how one searched network becomes one deployable file, and how that file is checked.

A format is a small class registered by name (``@register_format("fp16")``). It says which network it
deploys (`config`), writes the file (`write`), says why it cannot run here (`unavailable`), checks and
verifies the file against torch on the test split (`verify`), and times it (`measure`: by default the
file's bytes on the run profile's worker pool). `nas.export.network` runs every requested format through the
same steps.

- ``onnx``: the network as searched: float layers in fp32, the config's int8 layers quantized by its
  scheme, its int4 layers as MatMulNBits (what profiling timed). Always written; the model card's top-level fields describe it.
- ``int8``: the same architecture with every precision choice at int8 (the space's scheme).
- ``fp16``: the network with every layer (its int8 layers too) and its input and output in float16.
- ``tensorrt``: a TensorRT plan of the fp32 graph, built by the tensorrt backend (nas.export.tensorrt).
- ``elastic``: one bundle of every exported network, each weight stored once (nas.export.elastic_format).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nas.errors import HwnasError
from nas.registry import Registry
from nas.models.evaluate import accuracy, predict_logits
from nas.models.onnx_export import (
    DEFAULT_OPSET,
    check_onnx,
    export_onnx,
    integer_kernels,
    nbits_kernels,
    onnxruntime_logits,
    operator_precisions,
)

LOGIT_TOLERANCE = 1e-4  # fp32 models: max abs difference of logits, ONNX Runtime vs torch
# Models with int8 layers: a value on a rounding boundary may round the other way in the runtime (its
# float arithmetic differs in the last bit), so logits differ by up to ~1e-2; what must agree is the
# accuracy on the test split, within half a point.
ACCURACY_TOLERANCE = 0.005
# fp16 models: 11-bit mantissas round every stored weight and activation (~5e-4 relative), compounded over
# the layers; the logits must agree within 1% of the largest |logit| and the accuracy within half a point.
FP16_RELATIVE_TOLERANCE = 1e-2


@dataclass(frozen=True)
class ExportOptions:
    opset: int = DEFAULT_OPSET  # ONNX opset of the exported graphs (the exporter says which it writes)
    dynamic_batch: bool = True  # a dynamic batch dimension (False: fixed at the profile's batch size)
    batch_size: int = 1  # the fixed batch size when not dynamic
    # Model inputs (one sample each) that set the static activation scales of int8 schemes that have them
    # (trt-qdq); None: the scheme's own stand-ins. Export passes training samples.
    calibration: tuple | None = None
    exporter: str = "dynamo"  # nas.models.onnx_exporters: dynamo (torch.export), or torchscript (deprecated)


class ExportFormat:
    """Base class of an export format. Subclasses set `name` (by the decorator), `suffix` and implement
    `write` and `verify`; the others have defaults for ONNX files."""

    name = "abstract"
    suffix = ".onnx"  # the file is models/<config_id><suffix>
    description = ""
    per_model = True  # one file per network; False: one bundle of every exported network (`write_bundle`)
    onnx_metadata = True  # the file is ONNX: it carries the hwnas metadata_props (nas.export.deployment)

    def unavailable(self, space: Any, profile: Any) -> str | None:
        """Why this format cannot be made here (None: it can)."""
        return None

    def config(self, space: Any, config: Mapping[str, Any]) -> dict:
        """The config of the network this format deploys."""
        return space.canonical(config)

    def write(self, network: Any, input_shape: tuple[int, ...], path: Path, options: ExportOptions) -> Path:
        raise NotImplementedError

    def verify(self, path: Path, network: Any, dataset: Any) -> dict:
        """Check the file and compare its runtime with torch on the test split: a dict with at least
        `test_accuracy_torch`, `test_accuracy_runtime`, `max_abs_logit_difference` and `verified`."""
        raise NotImplementedError

    def timing_model(self, path: Path, network: Any, model_format: str) -> Any:
        """What the profile's backend times: the file's bytes ("onnx" backends) or the module ("torch")."""
        return network if model_format == "torch" else path.read_bytes()

    def measure(self, path: Path, network: Any, profiler: Any, key: str) -> tuple[Any, Any]:
        """(measurement, profile) of the written file, timed on the run's profile through its pool."""
        return profiler.time_model(key, self.timing_model(path, network, profiler.model_format)), profiler.profile


# by name, in registration order (the order files are written); `elastic` (a bundle of them all) too
FORMATS: Registry = Registry("export format", base=ExportFormat)

register_format = FORMATS.register
format_names = FORMATS.in_order
create_format = FORMATS.create


def comparison(torch_logits: np.ndarray, runtime_logits: np.ndarray, labels: np.ndarray) -> dict:
    return {"test_accuracy_torch": accuracy(torch_logits, labels),
            "test_accuracy_runtime": accuracy(runtime_logits, labels),
            "max_abs_logit_difference": float(np.abs(torch_logits - runtime_logits).max()),
            "prediction_agreement": float((torch_logits.argmax(1) == runtime_logits.argmax(1)).mean())}


def _int8_layers(network: Any) -> int:
    return len(network.int8_weights()) if hasattr(network, "int8_weights") else 0


def _int4_layers(network: Any) -> int:
    return len(network.int4_weights()) if hasattr(network, "int4_weights") else 0


def float_network(network: Any) -> Any:
    """`network` with its int8 and int4 layers at fp32 (same weights): what a float graph exports."""
    return network.as_fp32() if _int8_layers(network) or _int4_layers(network) else network


def _onnx_options(options: ExportOptions) -> dict:
    return {"opset": options.opset, "batch_size": None if options.dynamic_batch else options.batch_size,
            "calibration": options.calibration, "exporter": options.exporter}


@register_format("onnx")
class SearchedOnnx(ExportFormat):
    """ONNX of the network as searched: fp32 layers in fp32, int8 layers quantized by the config's scheme."""

    suffix = ".onnx"
    description = "the network as searched (fp32, and its int8 layers as its scheme runs them)"

    def write(self, network: Any, input_shape: tuple[int, ...], path: Path, options: ExportOptions) -> Path:
        return export_onnx(network, input_shape, path, **_onnx_options(options))

    def verify(self, path: Path, network: Any, dataset: Any) -> dict:
        check_onnx(path)
        int8_layers = _int8_layers(network)
        torch_logits = predict_logits(network, dataset.x_test)
        # Dynamic int8 takes its activation range per call: one sample per call, as deployed at batch 1.
        runtime_logits = onnxruntime_logits(path, dataset.x_test, batch_size=1 if int8_layers else 256)
        result = comparison(torch_logits, runtime_logits, dataset.y_test)
        kernels = integer_kernels(path, network.int8_scheme) if int8_layers else 0
        extra = {}
        if int8_layers:
            verified = kernels == int8_layers
            if runtime_is_exact_reference(network.int8_scheme):
                verified = verified and (abs(result["test_accuracy_torch"] - result["test_accuracy_runtime"])
                                         <= ACCURACY_TOLERANCE)
            else:  # the accuracies are reported, not judged: this CPU's kernel is not the scheme's arithmetic
                extra["runtime_reference"] = (f"not exact: {network.int8_scheme} uses full-range int8 weights and "
                                              f"this CPU has no VNNI/AMX, so ONNX Runtime's kernel saturates")
        else:  # fp32 and int4 (float activations: MatMulNBits dequantizes as the fake quantization does)
            verified = result["max_abs_logit_difference"] <= LOGIT_TOLERANCE and result["prediction_agreement"] == 1
        int4_layers = _int4_layers(network)
        int4_kernels = nbits_kernels(path) if int4_layers else 0
        verified = verified and int4_kernels == int4_layers
        return {**result, **extra, "int8_layers": int8_layers, "integer_kernels": kernels,
                **({"int4_layers": int4_layers, "int4_kernels": int4_kernels} if int4_layers else {}),
                "verified": bool(verified)}


def runtime_is_exact_reference(scheme_name: str) -> bool:
    """Whether ONNX Runtime's CPU integer kernels compute `scheme_name`'s arithmetic exactly on this host
    (always for reduced-range weights; for full-range ones only with an int8 dot product, VNNI or AMX)."""
    from hw_profiles.host import has_int8_dot_product
    from search_spaces.quantization import create_scheme

    return create_scheme(scheme_name).exact_without_int8_dot_product or has_int8_dot_product()


@register_format("int8")
class AllInt8Onnx(SearchedOnnx):
    """The architecture with every precision choice at int8: the space's int8 scheme on every layer it
    can quantize, checked like any int8 network (integer kernels, accuracy within half a point)."""

    suffix = ".int8.onnx"
    description = "every layer the space can quantize at int8"

    def unavailable(self, space: Any, profile: Any) -> str | None:
        precisions = list(getattr(space, "precisions", ("fp32",)))
        if "int8" not in precisions:
            return f"space {space.name!r} offers no int8 layers (its precisions: {precisions})"
        return None

    def config(self, space: Any, config: Mapping[str, Any]) -> dict:
        return space.at_precision(config, "int8")


@register_format("fp16")
class Float16Onnx(ExportFormat):
    """Every layer, the input and the output in float16; compared with the network in fp32."""

    suffix = ".fp16.onnx"
    description = "every layer, input and output in float16"

    def write(self, network: Any, input_shape: tuple[int, ...], path: Path, options: ExportOptions) -> Path:
        import torch

        half = copy.deepcopy(float_network(network)).to(torch.float16)  # `network` stays the fp32 reference
        return export_onnx(half, input_shape, path, dtype=torch.float16, **_onnx_options(options))

    def verify(self, path: Path, network: Any, dataset: Any) -> dict:
        check_onnx(path)
        torch_logits = predict_logits(float_network(network), dataset.x_test)
        half = np.float16 if np.issubdtype(dataset.x_test.dtype, np.floating) else None  # token ids stay integers
        runtime_logits = onnxruntime_logits(path, dataset.x_test, dtype=half).astype(np.float32)
        result = comparison(torch_logits, runtime_logits, dataset.y_test)
        scale = float(np.abs(torch_logits).max())
        precisions = operator_precisions(path)
        verified = (result["max_abs_logit_difference"] <= FP16_RELATIVE_TOLERANCE * scale
                    and abs(result["test_accuracy_torch"] - result["test_accuracy_runtime"]) <= ACCURACY_TOLERANCE)
        return {**result, "logit_tolerance": FP16_RELATIVE_TOLERANCE * scale, "verified": bool(verified),
                # Which operators ONNX Runtime's CPU provider runs on float16 data, and which it wraps in
                # Casts to run in float32 (it has no float16 kernel for them).
                "runtime_float16_operators": precisions["float16"],
                "runtime_float32_operators": precisions["float32"],
                "torch_reference": "the same weights in float32"}


def requested_formats(names: list[str]) -> tuple[list[ExportFormat], list[ExportFormat]]:
    """(per-model formats in registry order, `onnx` always among them; bundle formats asked for)."""
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise HwnasError(f"--format: unknown format {unknown[0]!r}; choose from {', '.join(format_names())}")
    wanted = set(names) | {"onnx"}
    chosen = [create_format(name) for name in format_names() if name in wanted]
    return [f for f in chosen if f.per_model], [f for f in chosen if not f.per_model]