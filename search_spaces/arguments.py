"""Checks of space arguments shared by the families, each failing with a ConfigError naming the argument."""

from __future__ import annotations

from typing import Any, Sequence

from search_spaces.errors import ConfigError
from search_spaces.quantization import PRECISIONS, create_scheme


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"space argument {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"space argument {name!r} must be a number > 0, got {value!r}")
    return float(value)


def sorted_choices(name: str, values: Sequence[Any], kind: type) -> tuple:
    if isinstance(values, (str, bytes)) or not values or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(f"space argument {name!r} must be a non-empty list of positive numbers, got {values!r}")
    return tuple(sorted({kind(v) for v in values}))


def precisions_argument(values: Sequence[str], int8_scheme: str) -> tuple[str, ...]:
    """The space's precisions, fewest bits first; an unknown precision or int8 scheme is refused."""
    if isinstance(values, str) or not values or any(value not in PRECISIONS for value in values):
        raise ConfigError(f"space argument 'precisions' must be a non-empty list from {list(PRECISIONS)}, "
                          f"got {values!r}")
    if "int8" in values:
        create_scheme(int8_scheme)  # an unknown scheme fails here, naming the known ones
    return tuple(precision for precision in PRECISIONS if precision in values)


def recorded_precision_arguments(precisions: tuple[str, ...], int8_scheme: str) -> dict[str, Any]:
    """What a space records of its precisions: nothing for fp32 only, so its key (and every measurement and
    checkpoint made before precisions existed) stays the same."""
    if precisions == ("fp32",):
        return {}
    return {"precisions": list(precisions), **({"int8_scheme": int8_scheme} if "int8" in precisions else {})}
