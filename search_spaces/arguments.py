"""Checks of space arguments shared by the families, each failing with a ConfigError naming the argument."""

from __future__ import annotations

from typing import Any, Sequence

from search_spaces.errors import ConfigError
from search_spaces.quantization import PRECISIONS, create_scheme


# Sane bounds, checked before anything is built (a space's arguments come from files too: supernet.pt,
# elastic bundles, predictor files). Each is well above what the project's tests, scripts and defaults use
# (in brackets); MAXIMUM_PARAMETERS bounds what the largest network of a space may hold in all.
MAXIMUM = {
    "image_size": 1024,  # [224]
    "in_channels": 64,  # [3]
    "num_classes": 100_000,  # [1000]
    "patch_size": 64,  # [5]
    "stem_channels": 1024,  # [32]
    "head_dim": 256,  # [16]
    "depth_choices": 32,  # [6]
    "embed_dim_choices": 768,  # [256]
    "num_heads_choices": 32,  # [8]
    "mlp_ratio_choices": 8.0,  # [4.0]
    "vocab_size": 262_144,  # [8000]
    "max_length": 4096,  # [64]
    "max_length_choices": 4096,  # [256]
    "width_mult": 4.0,  # [1.0]
    "resolution_choices": 1024,  # [224]
    "kernel_size_choices": 15,  # [7]
    "expand_ratio_choices": 12,  # [6]
}
MAXIMUM_CHOICES = 64  # values in one choice list [25: mbv3's resolutions]
MAXIMUM_PARAMETERS = 50_000_000  # of a space's largest network, 200 MB at fp32 [7.7 million: mbv3]


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    maximum = MAXIMUM.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        bound = f" and <= {maximum}" if maximum else ""
        raise ConfigError(f"space argument {name!r} must be an integer >= {minimum}{bound}, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    maximum = MAXIMUM.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or (maximum and value > maximum):
        bound = f" and <= {maximum}" if maximum else ""
        raise ConfigError(f"space argument {name!r} must be a number > 0{bound}, got {value!r}")
    return float(value)


def sorted_choices(name: str, values: Sequence[Any], kind: type) -> tuple:
    maximum = MAXIMUM.get(name, float("inf"))
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values or len(values) > \
            MAXIMUM_CHOICES or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= maximum
                                       for v in values):
        bound = f", each <= {maximum}" if maximum != float("inf") else ""
        raise ConfigError(f"space argument {name!r} must be a non-empty list of at most {MAXIMUM_CHOICES} positive "
                          f"numbers{bound}, got {_shown(values)}")
    return tuple(sorted({kind(v) for v in values}))


def check_parameter_count(space: Any) -> None:
    """Refuse a space whose largest network would hold more than MAXIMUM_PARAMETERS (counted analytically,
    nothing built)."""
    parameters = space.cost_features(space.largest()).get("params", 0)
    if parameters > MAXIMUM_PARAMETERS:
        raise ConfigError(f"space {space.name!r}: its largest network has {parameters:.0f} parameters, more than "
                          f"{MAXIMUM_PARAMETERS}; choose smaller space arguments")


def _shown(values: Any) -> str:
    text = repr(values)
    return text if len(text) <= 80 else text[:77] + "..."


def precisions_argument(values: Sequence[str], int8_scheme: str,
                        allowed: Sequence[str] = ("int8", "fp32")) -> tuple[str, ...]:
    """The space's precisions, fewest bits first; a precision outside `allowed` (what the family's blocks can
    run) or an unknown int8 scheme is refused."""
    allowed = [precision for precision in PRECISIONS if precision in allowed]
    if isinstance(values, str) or not values or any(value not in allowed for value in values):
        raise ConfigError(f"space argument 'precisions' must be a non-empty list from {allowed}, got {values!r}")
    if "int8" in values:
        create_scheme(int8_scheme)  # an unknown scheme fails here, naming the known ones
    return tuple(precision for precision in PRECISIONS if precision in values)


def recorded_precision_arguments(precisions: tuple[str, ...], int8_scheme: str,
                                 int4_block_size: int = 32) -> dict[str, Any]:
    """What a space records of its precisions: nothing for fp32 only, so its key (and every measurement and
    checkpoint made before precisions existed) stays the same; the int4 block size only with int4."""
    if precisions == ("fp32",):
        return {}
    return {"precisions": list(precisions), **({"int8_scheme": int8_scheme} if "int8" in precisions else {}),
            **({"int4_block_size": int4_block_size} if "int4" in precisions else {})}
