"""Registry of predictors: `@register_predictor("gbdt")` and `create_predictor("gbdt", **hyper_parameters)`."""

from __future__ import annotations

from typing import Any, Callable

from predictors.errors import PredictorError

_PREDICTORS: dict[str, type] = {}


def register_predictor(name: str) -> Callable[[type], type]:
    """Class decorator: make the estimator class available as `create_predictor(name)`."""

    def decorator(cls: type) -> type:
        if name in _PREDICTORS and _PREDICTORS[name] is not cls:
            raise ValueError(f"predictor {name!r} is already registered by {_PREDICTORS[name].__name__}")
        cls.registered_name = name
        _PREDICTORS[name] = cls
        return cls

    return decorator


def predictor_names() -> list[str]:
    return sorted(_PREDICTORS)


def predictor_class(name: str) -> type:
    if name not in _PREDICTORS:
        raise PredictorError(f"unknown predictor {name!r}; available: {', '.join(predictor_names())}")
    return _PREDICTORS[name]


def create_predictor(name: str, **hyper_parameters: Any) -> Any:
    """An unfitted predictor `name`; an unknown hyper-parameter raises PredictorError naming it."""
    cls = predictor_class(name)
    try:
        return cls(**hyper_parameters)
    except TypeError as error:  # unexpected keyword
        raise PredictorError(f"predictor {name!r}: {error}") from None
