"""Supernet checkpoints: the weights plus the space name and arguments that rebuild the supernet."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from nas.errors import HwnasError
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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict; a missing, truncated or foreign file raises a one-line HwnasError."""
    import torch

    path = Path(path)
    if not path.exists():
        raise HwnasError(f"checkpoint {str(path)!r} does not exist; train one with `hwnas train`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for broken files
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise HwnasError(f"checkpoint {str(path)!r} is corrupt or not a torch file ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HwnasError(f"checkpoint {str(path)!r} is not an hwnas supernet checkpoint")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise HwnasError(f"checkpoint {str(path)!r} has format version {state['format_version']}; "
                         f"this hwnas reads up to {FORMAT_VERSION}: upgrade hwnas")
    return state


def load_supernet(path: Path):
    """(space, supernet in eval mode, checkpoint dict) from a checkpoint file."""
    from search_spaces import ConfigError, create_space

    state = load_checkpoint(path)
    try:
        space = create_space(state["space"]["name"], **state["space"]["arguments"])
        supernet = space.build_supernet()
        supernet.load_state_dict(state["model"])
    except (KeyError, RuntimeError, ConfigError) as error:
        first_line = str(error).splitlines()[0][:200]
        raise HwnasError(f"checkpoint {str(path)!r} does not match its space: {first_line}") from None
    return space, supernet.eval(), state
