"""The search spaces inside a loaded predictor file, rebuilt through `create_space` and its bounds.

skops restores an object by setting its attributes, without calling `__init__`, so a space read from a
predictor file would skip the checks every space's constructor makes of its arguments (the bounds of
`search_spaces.arguments`: widths, depths, number of choices, parameters of the largest network). Here
each space found in the estimator is built again from its name and arguments by `create_space`, which
checks them; its choices must equal what those arguments give, and the rebuilt space takes its place,
so nothing of the file's copy but its name and arguments is used. The file's JSON metadata must name
the same space. Any difference is refused in one line: the file was damaged or edited.
"""

from __future__ import annotations

import json
from typing import Any

from predictors.errors import PredictorError

MAXIMUM_DEPTH = 64  # nesting of estimators, encoders and lists walked to find spaces


def rebuild_spaces(predictor: Any, recorded: Any, where: str) -> None:
    """Replace, in place, every SearchSpace held by `predictor` with one built by `create_space` from its
    name and arguments; `recorded` is the space record of the file's metadata ({"name", "arguments"})."""
    rebuilt: dict[int, Any] = {}
    _walk(predictor, rebuilt, set(), where, 0)
    spaces = list(rebuilt.values())
    if recorded is not None and spaces and not any(_same_record(recorded, space) for space in spaces):
        raise PredictorError(f"{where}: its metadata names space {_shown(recorded)}, but its estimator holds "
                             f"{_shown({'name': spaces[0].name, 'arguments': spaces[0].arguments})}; the file was "
                             f"edited or damaged")


def _walk(value: Any, rebuilt: dict[int, Any], seen: set[int], where: str, depth: int) -> Any:
    from search_spaces.space import SearchSpace

    if isinstance(value, SearchSpace):
        if id(value) not in rebuilt:
            rebuilt[id(value)] = _rebuilt(value, where)
        return rebuilt[id(value)]
    if id(value) in seen or depth > MAXIMUM_DEPTH or isinstance(value, (str, bytes, int, float, type)):
        return value
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = _walk(item, rebuilt, seen, where, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _walk(item, rebuilt, seen, where, depth + 1)
    elif type(value) is tuple:
        return tuple(_walk(item, rebuilt, seen, where, depth + 1) for item in value)
    elif hasattr(value, "__dict__") and not hasattr(value, "dtype"):  # an object, not a numpy array or scalar
        for key, item in list(vars(value).items()):
            value.__dict__[key] = _walk(item, rebuilt, seen, where, depth + 1)
    return value


def _rebuilt(space: Any, where: str) -> Any:
    from search_spaces import ConfigError, create_space
    from nas.registry import RegistryError

    arguments = space.__dict__.get("arguments")
    name = getattr(type(space), "name", None)
    if not isinstance(arguments, dict):
        raise PredictorError(f"{where}: its space {name!r} has no arguments record; the file was edited or damaged")
    try:
        fresh = create_space(name, **arguments)
    except (ConfigError, RegistryError, TypeError) as error:
        raise PredictorError(f"{where}: its space {name!r}: {' '.join(str(error).split())[:200]}") from None
    if space.__dict__.get("choices") != fresh.choices or space.__dict__.get("ignored_choices") != fresh.ignored_choices:
        raise PredictorError(f"{where}: its space {name!r} holds choices that its arguments do not give; the file "
                             f"was edited or damaged")
    return fresh


def _same_record(recorded: Any, space: Any) -> bool:
    if not isinstance(recorded, dict):
        return False
    ours = {"name": space.name, "arguments": space.arguments}
    return json.dumps(recorded, sort_keys=True, default=str) == json.dumps(ours, sort_keys=True, default=str)


def _shown(record: Any) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
