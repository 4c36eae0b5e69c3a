"""Backends by name: ``@register_backend("onnxruntime")`` and ``create_backend(profile)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

from hw_profiles.backends.base import Backend
from hw_profiles.errors import ProfileError

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile

BackendClass = TypeVar("BackendClass", bound=type[Backend])

_BACKENDS: dict[str, type[Backend]] = {}


def register_backend(name: str) -> Callable[[BackendClass], BackendClass]:
    """Class decorator that makes a Backend subclass available under ``name``."""

    def decorate(cls: BackendClass) -> BackendClass:
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"@register_backend({name!r}) needs a Backend subclass, got {cls!r}")
        if name in _BACKENDS and _BACKENDS[name] is not cls:
            raise ValueError(f"backend {name!r} is already registered by {_BACKENDS[name].__qualname__}")
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return decorate


def backend_names() -> tuple[str, ...]:
    """Names of the registered backends, sorted."""
    return tuple(sorted(_BACKENDS))


def backend_class(name: str) -> type[Backend]:
    """The class registered under ``name``; ProfileError listing the names if there is none."""
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ProfileError(f"unknown backend {name!r}; registered backends: {list(backend_names())}") from None


def create_backend(profile: HardwareProfile) -> Backend:
    """A backend instance for ``profile.backend``, bound to the profile."""
    return backend_class(profile.backend)(profile)
