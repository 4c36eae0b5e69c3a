"""Registry of search spaces: `@register_space("vit")` and `create_space("vit", **arguments)`."""

from __future__ import annotations

from typing import Any, Callable

from search_spaces.errors import ConfigError
from search_spaces.space import SearchSpace

_SPACES: dict[str, type[SearchSpace]] = {}


def register_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    def decorator(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _SPACES and _SPACES[name] is not cls:
            raise ValueError(f"search space {name!r} is already registered by {_SPACES[name].__name__}")
        cls.name = name
        _SPACES[name] = cls
        return cls

    return decorator


def space_names() -> list[str]:
    return sorted(_SPACES)


def space_class(name: str) -> type[SearchSpace]:
    if name not in _SPACES:
        raise ConfigError(f"unknown search space {name!r}; available: {', '.join(space_names())}")
    return _SPACES[name]


def create_space(name: str, **arguments: Any) -> SearchSpace:
    """Build the space `name`; bad arguments raise ConfigError naming the argument."""
    cls = space_class(name)
    try:
        return cls(**arguments)
    except TypeError as error:  # unexpected keyword
        raise ConfigError(f"space {name!r}: {error}") from None
