"""The `space` hyper-parameter of encoders and predictors: a SearchSpace, or a space's name."""

from __future__ import annotations

from typing import Any

from predictors.errors import PredictorError


def resolve_space(space: Any, owner: str) -> Any:
    """The SearchSpace that `space` stands for; a name builds the space with its default arguments."""
    if space is None:
        raise PredictorError(f"{owner} needs a search space: pass space=create_space(...) or a space name")
    if isinstance(space, str):
        from nas.registry import RegistryError
        from search_spaces import ConfigError, create_space

        try:
            return create_space(space)
        except (ConfigError, RegistryError) as error:
            raise PredictorError(str(error)) from None
    if not hasattr(space, "choices") or not hasattr(space, "cost_features"):
        raise PredictorError(f"{owner}: space must be a SearchSpace or a space name, got {type(space).__name__}")
    return space
