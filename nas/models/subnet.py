"""Standalone sub-network checkpoints: one extracted network, rebuilt without its supernet.

The file is `torch.save` of a dict (read back with `weights_only=True`):

    format          "hwnas-subnet"
    format_version  2 (1, whose checksums covered the tensors only, is refused)
    space           {"name", "version", "arguments"}: `create_space(name, **arguments)` rebuilds it
    config          the canonical config; config_id
    state_dict      the extracted network's tensors, each in storage of its own size
    parameters      number of parameters
    source          where it came from (run folder, trial number or config file), for people
    checksums       {"state_dict.<tensor name>": SHA-256 of its bytes}, checked on load
    structure_sha256  SHA-256 of everything else (format, space, config, config_id, tensor names and shapes,
                    parameters, source), checked on load: an edited config or space is refused

`load_subnet(path)` builds `space.build_network(config)` and loads the state dict: no supernet code
runs and no supernet weights are read, and the file holds only the sub-network's own weights.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Mapping

from nas.models.checkpoint import read_hwnas_file, seal, verify_seal
from nas.errors import HwnasError
from nas.registry import RegistryError
from nas.run_folder import write_atomically

FORMAT = "hwnas-subnet"
FORMAT_VERSION = 2  # 2: sealed (`nas.models.checkpoint.seal`): the tensors and everything else checksummed
WHAT = "sub-network checkpoint"


def space_record(space: Any) -> dict[str, Any]:
    """What rebuilds `space`: its name, version and arguments (stored in checkpoints, bundles, cards)."""
    return {"name": space.name, "version": space.version, "arguments": space.arguments}


def own_storage(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """Contiguous copies with storage of their own size: torch.save writes a view's whole storage, so a
    slice of a supernet weight would otherwise carry the supernet's size into the file."""
    import torch

    return {name: value.detach().clone(memory_format=torch.contiguous_format) for name, value in tensors.items()}


def subnet_bytes(space: Any, config: Mapping[str, Any], network: Any, source: Mapping[str, Any]) -> bytes:
    """The checkpoint of the extracted `network` of `config`, as bytes (same network, same bytes)."""
    import torch

    config = space.canonical(config)
    tensors = own_storage(network.state_dict())
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "space": space_record(space), "config": config,
             "config_id": space.config_id(config), "state_dict": tensors,
             "parameters": int(sum(p.numel() for p in network.parameters())), "source": dict(source)}
    buffer = io.BytesIO()
    torch.save(seal(state), buffer)
    return buffer.getvalue()


def save_subnet(path: str | Path, space: Any, config: Mapping[str, Any], network: Any,
                source: Mapping[str, Any] | None = None) -> Path:
    path = Path(path)
    write_atomically(path, subnet_bytes(space, config, network, source or {}))
    return path


def read_subnet(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, checked; a missing, corrupt or foreign file raises a one-line HwnasError."""
    where = f"{WHAT} {str(path)!r}"
    state = read_hwnas_file(Path(path), WHAT, FORMAT, FORMAT_VERSION, "write one with `hwnas extract`")
    if state.get("format_version") != FORMAT_VERSION:
        raise HwnasError(f"{where} has format version {state.get('format_version')!r}, whose checksums covered "
                         f"its tensors only, so an edited config or space cannot be told apart; write it again "
                         f"with `hwnas extract`")
    verify_seal(state, where)
    missing = [key for key in ("space", "config", "state_dict") if key not in state]
    if missing or not isinstance(state["state_dict"], dict):
        raise HwnasError(f"{where} is incomplete (missing {missing or ['state_dict']})")
    return state


def build_space(record: Any, where: str) -> Any:
    """The space a file's `space` record names; a missing space, other version or bad arguments raise a
    one-line HwnasError naming `where`."""
    from search_spaces import ConfigError, create_space

    if not isinstance(record, dict) or not isinstance(record.get("arguments"), dict):
        raise HwnasError(f"{where}: its space record is malformed ({record!r})")
    try:
        space = create_space(record.get("name"), **record["arguments"])
    except (ConfigError, RegistryError) as error:
        raise HwnasError(f"{where}: {error}") from None
    if str(record.get("version")) != str(space.version):
        raise HwnasError(f"{where} was made by space {space.name!r} version {record.get('version')!r}; this hwnas "
                         f"has version {space.version!r}, whose weights mean something else: re-extract it")
    return space


def build_network(space: Any, config: Mapping[str, Any], tensors: Mapping[str, Any], where: str) -> Any:
    """`space.build_network(config)` holding `tensors` (its full state dict; the module takes them over), in
    eval mode. It is built on the meta device, so no time goes into initialising weights that are replaced;
    a network with a tensor the state dict does not hold (a non-persistent buffer) is built on the CPU."""
    import torch

    from search_spaces import ConfigError

    try:
        with torch.device("meta"):
            network = space.build_network(config)
        network.load_state_dict(dict(tensors), strict=True, assign=True)
        if any(tensor.is_meta for tensor in [*network.parameters(), *network.buffers()]):
            network = space.build_network(config)
            network.load_state_dict(dict(tensors), strict=True)
    except (ConfigError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise HwnasError(f"{where} does not match its space: {str(error).splitlines()[0][:200]}") from None
    return network.eval()


def load_subnet(path: str | Path) -> Any:
    """The standalone sub-network saved at `path` (an `nn.Module` in eval mode), built without the supernet."""
    state = read_subnet(path)
    where = f"{WHAT} {str(path)!r}"
    space = build_space(state["space"], where)
    return build_network(space, state["config"], state["state_dict"], where)


def config_from_file(space: Any, path: str | Path) -> dict[str, Any]:
    """A config from a JSON file: the config itself, or any object with a "config" key (a model card, a
    front.json entry); invalid keys or values raise a one-line error naming them."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise HwnasError(f"--config {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HwnasError(f"--config {str(path)!r} is not valid JSON ({error})") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    return space.canonical(data)
