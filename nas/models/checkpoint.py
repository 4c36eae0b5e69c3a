"""Supernet checkpoints: the weights plus the space name and arguments that rebuild the supernet."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from nas.errors import HwnasError
from nas.registry import RegistryError
from nas.run_folder import write_atomically

FORMAT = "hwnas-supernet"
FORMAT_VERSION = 1


def differing_arguments(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Names of the space arguments whose values differ between two spaces (or exist in one only), sorted."""
    return sorted(key for key in set(theirs) | set(ours) if theirs.get(key) != ours.get(key))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    write_atomically(Path(path), buffer.getvalue())


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
    """The checkpoint's dict; a missing, truncated or foreign file raises a one-line HwnasError."""
    return read_hwnas_file(path, "supernet checkpoint", FORMAT, FORMAT_VERSION, "train one with `hwnas train`")


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


def open_run(run: Any):
    """(space, supernet, dataset) of a trained run (a RunFolder)."""
    from nas.data import load_dataset

    space, supernet, state = load_supernet(run.require(run.checkpoint, "train"))
    # The checkpoint names an .npz data set by its stem; run.json keeps the path `train` was given.
    recorded = run.settings().get("dataset")
    if isinstance(recorded, str) and recorded.endswith(".npz") and Path(recorded).stem == state["dataset"]:
        return space, supernet, load_dataset(recorded)
    return space, supernet, load_dataset(state["dataset"])
