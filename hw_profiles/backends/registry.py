"""Backends by name: ``@register_backend("onnxruntime")`` and ``create_backend(profile)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hw_profiles.backends.base import Backend
from nas.registry import Registry

if TYPE_CHECKING:
    from hw_profiles.profile import HardwareProfile

BACKENDS: Registry[type[Backend]] = Registry("backend", base=Backend)

register_backend = BACKENDS.register
backend_names = BACKENDS.names
backend_class = BACKENDS.get


def create_backend(profile: HardwareProfile) -> Backend:
    """A backend instance for ``profile.backend``, bound to the profile."""
    return BACKENDS.create(profile.backend, profile)
