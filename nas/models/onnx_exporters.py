"""The exporters that turn a static torch network into an ONNX graph: `dynamo` (torch.export, the default)
and `torchscript` (torch's deprecated TorchScript-based exporter, kept for one release as a fallback).

An exporter is a small class registered by name (`EXPORTERS`); `write(network, example, path, opset,
dynamic_batch)` writes the float graph (input `input`, output `logits`) that `nas.models.onnx_export` then
checks and quantizes. Each says which opsets it writes (`min_opset`..`max_opset`): the dynamo exporter's
operator library starts at opset 18, and below that torch converts the graph down and keeps opset 18 where
the conversion fails, so the range is refused up front rather than answered with another opset.
Why dynamo, and what it costs: docs/decisions.md ("The dynamo ONNX exporter").
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

from nas.errors import HwnasError
from nas.registry import Registry

INPUT_NAME, OUTPUT_NAME = "input", "logits"
DEFAULT_EXPORTER = "dynamo"
# ONNX's own Gelu is an operator from opset 20: the dynamo exporter writes it there, and ONNX Runtime fuses it,
# where at 18 it writes GELU as Div, Erf, Add, Mul, Mul, left unfused (4-14% slower; docs/decisions.md, #27)
DEFAULT_OPSET = 20


class OnnxExporter:
    """Base class: `name` (set by the registry), the opsets it writes, `write`."""

    name = "abstract"
    description = ""
    min_opset, max_opset = 18, 20
    deprecated = False

    def check_opset(self, opset: Any) -> None:
        """One line naming the allowed range where `opset` is not an integer this exporter writes."""
        if isinstance(opset, bool) or not isinstance(opset, int) or not self.min_opset <= opset <= self.max_opset:
            raise HwnasError(f"--opset must be an integer from {self.min_opset} to {self.max_opset} with the "
                             f"{self.name} exporter, got {opset!r}")

    def write(self, network: Any, example: Any, path: Path, opset: int, dynamic_batch: bool) -> Path:
        raise NotImplementedError


EXPORTERS: Registry = Registry("ONNX exporter", base=OnnxExporter)


def create_exporter(name: str) -> OnnxExporter:
    return EXPORTERS.create(name)


def exporter_names() -> list[str]:
    return EXPORTERS.in_order()


@contextlib.contextmanager
def _quiet_registry_log():
    """The dynamo exporter logs, on every call, that torchvision's operators are skipped (torchvision is not
    a dependency of hwnas): that one logger is raised to ERROR for the call. Warnings stay as they are."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@EXPORTERS.register("dynamo")
class DynamoExporter(OnnxExporter):
    """torch.export then torch's ONNX translation (onnxscript), optimized (constants folded, BatchNorm fused)."""

    description = "torch.onnx.export(dynamo=True): torch.export, then onnxscript's translation and optimizer"
    min_opset, max_opset = 18, 20

    def write(self, network: Any, example: Any, path: Path, opset: int, dynamic_batch: bool) -> Path:
        import onnx
        import torch

        dynamic_shapes = None
        if dynamic_batch:
            # torch.export specializes a dimension of size 1, so the example batch holds two samples.
            example = torch.cat([example, example])
            dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},)
        printed = io.StringIO()  # its progress lines ("[torch.onnx] Obtain model graph ...") go nowhere
        try:
            with _quiet_registry_log(), contextlib.redirect_stdout(printed):
                program = _export_program(network, example, opset, dynamic_shapes)
        except Exception as error:  # noqa: BLE001 - torch.export raises many types; the CLI needs one line
            raise HwnasError(f"the dynamo ONNX exporter cannot export {type(network).__name__}: "
                             f"{_first_line(error)} (try --exporter torchscript; see docs/decisions.md)") from None
        model = program.model_proto
        written = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
        if written != opset:
            raise HwnasError(f"the dynamo ONNX exporter wrote opset {written}, not the {opset} asked for")
        strip_node_metadata(model)
        onnx.save_model(model, str(path))
        return path


def _export_program(network: Any, example: Any, opset: int, dynamic_shapes: Any) -> Any:
    """`torch.onnx.export(..., dynamo=True)` without rebuilding its operator registry on every call.

    The public call builds the registry of ONNX translations from onnxscript's torchlib each time (0.6-1.4 s
    on this project's 2-core machine, a third of exporting a small network); the registry is only read
    during an export, so one per opset is built once per process and handed to the exporter's core
    function. That function is torch-internal: where it is missing or does not take these arguments, the
    public call runs instead (the same graph, only slower); `tests/export/test_onnx_exporters.py` checks
    that both give byte-identical files."""
    import torch

    registry = _torchlib_registry(opset)
    if registry is None:
        return torch.onnx.export(network, (example,), None, dynamo=True, verbose=False, opset_version=opset,
                                 input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                 dynamic_shapes=dynamic_shapes, optimize=True, external_data=False)
    from torch.onnx._internal.exporter import _core, _dynamic_shapes

    if network.training:  # the public call's warning, kept
        warnings.warn("Exporting a model while it is in training mode", UserWarning, stacklevel=4)
    # What the public call does around the core export: named dimensions in, the same names in the file.
    export_shapes, rename_axes = _dynamic_shapes.convert_str_to_export_dim(dynamic_shapes)
    program = _core.export(network, (example,), {}, registry=registry, dynamic_shapes=export_shapes,
                           input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False, optimize=True,
                           opset_version=opset)
    if rename_axes and dynamic_shapes is not None:
        program._rename_dynamic_axes(dynamic_shapes)
    return program


_REGISTRIES: dict[int, Any] = {}


def _torchlib_registry(opset: int) -> Any:
    """The exporter's operator registry for `opset`, built once per process; None where torch's internal
    exporter API is not the one this was written against (then the public, slower call is used)."""
    if opset not in _REGISTRIES:
        try:
            import inspect

            from torch.onnx._internal.exporter import _core, _dynamic_shapes, _onnx_program, _registration

            if ("registry" not in inspect.signature(_core.export).parameters
                    or not hasattr(_dynamic_shapes, "convert_str_to_export_dim")
                    or not hasattr(_onnx_program.ONNXProgram, "_rename_dynamic_axes")):
                raise ImportError("torch.onnx's internal exporter API is not the one hwnas was written against")
            _REGISTRIES[opset] = _registration.ONNXRegistry.from_torchlib(opset_version=opset)
        except (ImportError, AttributeError, TypeError):
            _REGISTRIES[opset] = None
    return _REGISTRIES[opset]


def strip_node_metadata(model: Any) -> None:
    """Drop what the dynamo exporter records per node for debugging (the torch module path, the FX node,
    the optimizer's rule names, source lines): it is not needed to run the graph, it made small files
    several times larger, and source paths would make a file depend on where hwnas is installed."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info, *model.graph.initializer]:
        del value.metadata_props[:]
    del model.graph.metadata_props[:]


@EXPORTERS.register("torchscript")
class TorchScriptExporter(OnnxExporter):
    """torch's TorchScript-based exporter (torch.onnx.export(dynamo=False)), deprecated by torch."""

    description = "torch.onnx.export(dynamo=False): deprecated by torch; a fallback for one release"
    min_opset, max_opset = 13, 20
    deprecated = True

    def write(self, network: Any, example: Any, path: Path, opset: int, dynamic_batch: bool) -> Path:
        import torch

        warnings.warn("--exporter torchscript: torch has deprecated its TorchScript-based ONNX exporter and "
                      "will remove it; hwnas drops this fallback in its next release (use the default, dynamo)",
                      FutureWarning, stacklevel=4)
        dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
        try:  # torch's own DeprecationWarning is left as it is (not silenced)
            torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=dynamic_axes)
        except (ValueError, RuntimeError, torch.onnx.errors.OnnxExporterError) as error:
            raise HwnasError(f"torch's TorchScript ONNX exporter cannot write opset {opset}: "
                             f"{_first_line(error)}") from None
        return path


def _first_line(error: BaseException) -> str:
    """The line that says what went wrong: the exporter's "## Exception summary" where it has one (its first
    line only says which step failed), else the message's first line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if "## Exception summary" in lines[:-1]:
        lines = lines[lines.index("## Exception summary") + 1:]
    return (lines[0] if lines else type(error).__name__)[:200]
