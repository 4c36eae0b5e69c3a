"""Optuna samplers by name. Each factory takes (seed, constraints_func)."""

from __future__ import annotations

from typing import Any, Callable

from nas.errors import HwnasError


def _nsga2(seed: int, constraints: Callable | None) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, population_size=24, constraints_func=constraints)


def _tpe(seed: int, constraints: Callable | None) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints, multivariate=True)


def _random(seed: int, constraints: Callable | None) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


SAMPLERS: dict[str, Callable[[int, Callable | None], Any]] = {"nsga2": _nsga2, "tpe": _tpe, "random": _random}


def create_sampler(name: str, seed: int, constraints: Callable | None = None) -> Any:
    if name not in SAMPLERS:
        raise HwnasError(f"unknown sampler {name!r}; available: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](seed, constraints)
