"""Supernet checkpoints: the weights plus the space name and arguments that rebuild the supernet."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from nas.errors import HwnasError
from nas.registry import RegistryError
from nas.run_folder import write_atomically

FORMAT = "hwnas-supernet"
FORMAT_VERSION = 2  # 2: checksums of every tensor and of the rest of the file (`seal`)
SEAL_KEYS = ("checksums", "structure_sha256")  # what `seal` adds; never part of what it checks


def differing_arguments(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Names of the space arguments whose values differ between two spaces (or exist in one only), sorted."""
    return sorted(key for key in set(theirs) | set(ours) if theirs.get(key) != ours.get(key))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(seal({"format": FORMAT, "format_version": FORMAT_VERSION, **state}), buffer)
    write_atomically(Path(path), buffer.getvalue())


def nested_tensors(state: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor in a nest of dicts, lists and tuples, by its dotted path ("model.head.weight",
    "optimizer.state.0.exp_avg"); the seal's keys are left out."""
    import torch

    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        items = [(str(key), value) for key, value in state.items() if prefix or key not in SEAL_KEYS]
    elif isinstance(state, (list, tuple)):
        items = [(str(index), value) for index, value in enumerate(state)]
    else:
        return {}
    found: dict[str, Any] = {}
    for key, value in items:
        found.update(nested_tensors(value, f"{prefix}.{key}" if prefix else key))
    return found


def structure_checksum(state: dict[str, Any]) -> str:
    """SHA-256 of everything in `state` but its tensors and seal: names, shapes, settings, metadata; a
    bytes value (an embedded file) counts by its own SHA-256."""
    body = {key: value for key, value in state.items() if key not in SEAL_KEYS}
    return hashlib.sha256(json.dumps(_plain_structure(body), sort_keys=True).encode()).hexdigest()


def _plain_structure(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return f"tensor {value.dtype} {list(value.shape)}"
    if isinstance(value, bytes):
        return "bytes " + hashlib.sha256(value).hexdigest()
    if isinstance(value, dict):
        return {f"{type(key).__name__}:{key}": _plain_structure(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_structure(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def seal(state: dict[str, Any]) -> dict[str, Any]:
    """`state` with the checksums of every tensor in it and of everything else (`verify_seal` checks them)."""
    return {**state, "checksums": tensor_checksums(nested_tensors(state)), "structure_sha256": structure_checksum(state)}


def verify_seal(state: dict[str, Any], where: str) -> None:
    """One-line HwnasError when a tensor or anything else in a sealed `state` differs from what was written."""
    if state.get("structure_sha256") != structure_checksum(state):
        raise HwnasError(f"{where} is corrupt: its names, shapes or settings do not match their checksum")
    verify_checksums(nested_tensors(state), state.get("checksums"), where)


def read_hwnas_file(path: Path, what: str, file_format: str, format_version: int, missing_hint: str) -> dict[str, Any]:
    """The dict saved in an hwnas torch file (`torch.load(weights_only=True)`) whose "format" is
    `file_format`; a missing, truncated, corrupt, foreign or too new file raises a one-line HwnasError
    that names the file and calls it `what` ("checkpoint", "sub-network checkpoint", "elastic bundle")."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"{what} {str(path)!r} does not exist; {missing_hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for broken files
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise HwnasError(f"{what} {str(path)!r} is corrupt or not a torch file ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != file_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise HwnasError(f"{what} {str(path)!r} is not an hwnas {what} (its format is {found!r}, "
                         f"expected {file_format!r})")
    version = state.get("format_version", 0)
    if not isinstance(version, int) or version > format_version:
        raise HwnasError(f"{what} {str(path)!r} has format version {version!r}; "
                         f"this hwnas reads up to {format_version}: upgrade hwnas")
    return state


def tensor_checksums(tensors: dict[str, Any]) -> dict[str, str]:
    """SHA-256 of each tensor's bytes: stored beside the tensors, so that a file whose weights were damaged
    (torch.load itself does not notice flipped bytes in tensor data) is refused instead of run."""
    return {name: hashlib.sha256(_tensor_bytes(value)).hexdigest() for name, value in sorted(tensors.items())}


def verify_checksums(tensors: dict[str, Any], checksums: Any, where: str) -> None:
    """One-line HwnasError naming the first tensor whose bytes do not match its stored checksum."""
    if not isinstance(checksums, dict) or set(checksums) != set(tensors):
        raise HwnasError(f"{where} is corrupt: its checksums do not list its tensors")
    for name, value in sorted(tensors.items()):
        if not hasattr(value, "dtype") or hashlib.sha256(_tensor_bytes(value)).hexdigest() != checksums[name]:
            raise HwnasError(f"{where} is corrupt: tensor {name!r} does not match its checksum")


def _tensor_bytes(tensor: Any) -> bytes:
    import torch

    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, its checksums checked; a missing, truncated, damaged, foreign or unsealed
    (format 1) file raises a one-line HwnasError."""
    what = "supernet checkpoint"
    state = read_hwnas_file(path, what, FORMAT, FORMAT_VERSION, "train one with `hwnas train`")
    if state.get("format_version") != FORMAT_VERSION:
        raise HwnasError(f"{what} {str(path)!r} has format version {state.get('format_version')!r}, written "
                         f"before checkpoints carried checksums, so damaged weights cannot be told apart; "
                         f"train it again with `hwnas train` in a new run folder")
    verify_seal(state, f"{what} {str(path)!r}")
    return state


def load_supernet(path: Path):
    """(space, supernet in eval mode, checkpoint dict) from a checkpoint file."""
    from search_spaces import ConfigError, create_space

    state = load_checkpoint(path)
    try:
        space = create_space(state["space"]["name"], **state["space"]["arguments"])
        supernet = space.build_supernet()
        supernet.load_state_dict(state["model"])
    except (KeyError, RuntimeError, ConfigError, RegistryError) as error:
        first_line = str(error).splitlines()[0][:200]
        raise HwnasError(f"checkpoint {str(path)!r} does not match its space: {first_line}") from None
    return space, supernet.eval(), state


def open_run(run: Any, dataset: str | None = None, load_data: bool = True):
    """(space, supernet, dataset) of a trained run (a RunFolder). The data set is the one run.json records
    (its content digest checked; `dataset` gives its new path if it moved, and the record follows it);
    with `load_data` False it is only checked, and None is returned in its place."""
    from nas.data import DATASETS, load_dataset, open_source

    space, supernet, state = load_supernet(run.require(run.checkpoint, "train"))
    settings = run.settings()
    record = settings.get("data")
    if record is None:  # a run trained before run.json recorded its data: its name (or path) only
        stored = state["dataset"]
        recorded = stored if stored in DATASETS else settings.get("dataset", stored)
        name = dataset or recorded
        return space, supernet, load_dataset(name) if load_data else None
    data, current = open_source(record, dataset, load=load_data, folder=run.path)
    if current != record:  # moved, and found again by its digest
        run.update_settings(data=current, dataset=current["path"])
    return space, supernet, data
