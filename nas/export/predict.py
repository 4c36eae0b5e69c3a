"""`hwnas predict`: run an exported model on raw inputs, with only what the exported files say.

The model is an ONNX file written by `hwnas export` (run by ONNX Runtime's CPU provider; its hwnas
metadata_props say how to make its input) or an elastic bundle, whose variant is named (`variant`) or
chosen by its `select` (`latency_ms`, `min_accuracy`; neither: the most accurate). A variant runs its
embedded ONNX file when the bundle holds one (`hwnas export --bundle-onnx`), else its torch module.
A file with dynamically quantized int8 layers (DynamicQuantizeLinear) is run one input per call, as it
was verified and is deployed at batch 1 (its activation ranges are taken per call).

Each input gets its `top` labels, most probable first: the label index, its name (from the data set:
class folder names, or the index) and the softmax probability.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nas.errors import HwnasError
from nas.export.deployment import read_metadata
from nas.export.predict_inputs import input_batches
from nas.run_folder import write_atomically

OUTPUT_SUFFIXES = (".csv", ".json")
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64}
COLUMNS = ("input", "rank", "label", "label_name", "probability")


@dataclass(frozen=True)
class DeployedModel:
    """A model ready to run: what its metadata says, and a function from an input batch to logits."""

    name: str  # the file, or bundle:variant
    metadata: dict  # {"preprocessing", "config", "profile", "version"}
    logits: Callable[[np.ndarray], np.ndarray]
    folder: Path  # where its vocab.json lies


def _onnx_runner(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """logits(batch) through an ONNX Runtime session of `model` (an onnx ModelProto)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    declared = session.get_inputs()[0]
    dtype = ONNX_TYPES.get(declared.type, np.float32)
    fixed = declared.shape[0] if isinstance(declared.shape[0], int) else None
    per_call = fixed or (1 if any(node.op_type == "DynamicQuantizeLinear" for node in model.graph.node) else None)

    def run(batch: np.ndarray) -> np.ndarray:
        batch = batch.astype(dtype, copy=False)
        step = per_call or max(1, len(batch))
        outputs = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            if fixed and len(chunk) < fixed:  # a fixed batch size: the last chunk padded with zeros
                chunk = np.concatenate([chunk, np.zeros((fixed - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            outputs.append(session.run(None, {declared.name: chunk})[0][:min(step, len(batch) - start)])
        return np.concatenate(outputs)

    return run


def _read_onnx(data: bytes | Path, where: str) -> Any:
    import onnx

    try:
        return onnx.load_model_from_string(data) if isinstance(data, bytes) else onnx.load(str(data))
    except Exception as error:  # noqa: BLE001 - a file that is not ONNX raises protobuf's DecodeError and others
        raise HwnasError(f"{where} is not a readable ONNX file ({str(error).splitlines()[0][:160] or 'decode error'})") \
            from None


def open_model(path: str | Path, variant: str | None = None, latency_ms: float | None = None,
               min_accuracy: float | None = None, profile: str | None = None) -> DeployedModel:
    """The model at `path` (.onnx, or an elastic bundle .pt with its variant chosen); one line when it is
    missing, unreadable, carries no hwnas metadata, or has no such variant."""
    path = Path(path)
    choosing = variant is not None or latency_ms is not None or min_accuracy is not None or profile is not None
    if not path.is_file():
        raise HwnasError(f"model {str(path)!r} does not exist; give an exported .onnx file or an elastic bundle (.pt)")
    if path.suffix.lower() == ".onnx":
        if choosing:
            raise HwnasError(f"--variant, --latency-ms, --min-accuracy and --profile choose a variant of an elastic "
                             f"bundle; {str(path)!r} is one ONNX file")
        model = _read_onnx(path, f"model {str(path)!r}")
        properties = {entry.key: entry.value for entry in model.metadata_props}
        return DeployedModel(path.name, read_metadata(properties, f"model {str(path)!r}"), _onnx_runner(model),
                             path.parent)
    if path.suffix.lower() != ".pt":
        raise HwnasError(f"model {str(path)!r}: give an exported .onnx file or an elastic bundle (.pt)")
    return _bundle_variant(path, variant, latency_ms, min_accuracy, profile)


def _bundle_variant(path: Path, variant: str | None, latency_ms: float | None,
                    min_accuracy: float | None, profile: str | None = None) -> DeployedModel:
    from nas.export.elastic import ElasticModel

    if variant is not None and (latency_ms is not None or min_accuracy is not None):
        raise HwnasError("--variant names one variant; leave out --latency-ms and --min-accuracy, which choose one")
    bundle = ElasticModel.load(path)
    where = f"elastic bundle {str(path)!r}"
    if bundle.deployment is None:
        raise HwnasError(f"{where} carries no hwnas metadata (no deployment record): export it again with "
                         f"`hwnas export --format elastic`, which writes its preprocessing into the bundle")
    if variant is not None:
        chosen = bundle.variant(variant)
    elif latency_ms is not None or min_accuracy is not None:
        chosen = bundle.select(latency_ms=latency_ms, min_accuracy=min_accuracy, profile=profile)
    else:
        chosen = max(bundle.variants, key=lambda v: (v.accuracy, -v.latency_ms))
    deployment = bundle.deployment
    metadata = read_metadata({"hwnas.preprocessing": json.dumps(deployment.get("preprocessing")),
                              "hwnas.profile": json.dumps(deployment.get("profile")),
                              "hwnas.version": str(deployment.get("version")),
                              "hwnas.config": json.dumps({"config": chosen.config, "config_id": chosen.name})}, where)
    try:
        embedded = bundle.onnx(chosen)
    except HwnasError:  # no ONNX files inside: the variant's torch module
        embedded = None
    runner = _torch_runner(bundle.module(chosen)) if embedded is None \
        else _onnx_runner(_read_onnx(embedded, f"{where} ({chosen.name})"))
    return DeployedModel(f"{path.name}:{chosen.name}", metadata, runner, path.parent)


def _torch_runner(module: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(batch))).float().numpy()

    return run


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.astype(np.float64).max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def predict(model: DeployedModel, inputs: list[str | Path], top: int = 1) -> list[dict]:
    """One dict per input: {"input", "predictions": [{"label", "label_name", "probability"}, ...top]}."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise HwnasError(f"--top must be a positive integer, got {top!r}")
    record = model.metadata["preprocessing"]
    names = record.get("label_names")
    results = []
    for batch_names, batch in input_batches([Path(item) for item in inputs], record, model.folder):
        try:
            probabilities = softmax(model.logits(batch))
        except (RuntimeError, ValueError) as error:  # e.g. a token id beyond the vocabulary
            raise HwnasError(f"model {model.name} cannot run on {batch_names[0]}: "
                             f"{str(error).strip().splitlines()[0][:200]}") from None
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
        for name, row, labels in zip(batch_names, probabilities, ranked):
            results.append({"input": name, "predictions": [
                {"label": int(label), "label_name": names[label] if names and label < len(names) else str(int(label)),
                 "probability": float(row[label])} for label in labels]})
    return results


def prediction_rows(results: list[dict]) -> list[dict]:
    return [{"input": result["input"], "rank": rank, **prediction}
            for result in results for rank, prediction in enumerate(result["predictions"], start=1)]


def check_output(out: str | Path | None) -> None:
    if out is not None and Path(out).suffix.lower() not in OUTPUT_SUFFIXES:
        raise HwnasError(f"--out must end in .csv or .json, got {str(out)!r}")


def format_predictions(results: list[dict], suffix: str = ".csv", delimiter: str = ",") -> str:
    """The predictions as CSV (one row per input and rank; `delimiter` "\\t" for the terminal) or JSON."""
    if suffix == ".json":
        return json.dumps(results, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    for row in prediction_rows(results):
        writer.writerow({**row, "probability": f"{row['probability']:.6f}"})
    return buffer.getvalue()


def predict_command(model_path: str, inputs: list[str], variant: str | None = None, latency_ms: float | None = None,
                    min_accuracy: float | None = None, out: str | None = None, top: int = 1,
                    profile: str | None = None) -> str:
    """`hwnas predict`: what to print (the table, or where the file was written)."""
    check_output(out)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise HwnasError(f"--top must be a positive integer, got {top!r}")
    model = open_model(model_path, variant, latency_ms, min_accuracy, profile)
    results = predict(model, inputs, top)
    if out is None:
        return format_predictions(results, delimiter="\t").rstrip("\n")
    write_atomically(Path(out), format_predictions(results, Path(out).suffix.lower()))
    return f"{len(results)} inputs predicted by {model.name}: {out}"
