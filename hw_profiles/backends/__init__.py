"""Timing backends. Importing this package registers the built-in ones (no runtime is imported)."""

from hw_profiles.backends import onnxruntime_backend  # noqa: F401  (registers "onnxruntime")
from hw_profiles.backends import tensorrt_backend  # noqa: F401  (registers "tensorrt")
from hw_profiles.backends import torch_cuda_backend  # noqa: F401  (registers "torch-cuda")
from hw_profiles.backends.base import Backend
from hw_profiles.backends.registry import BACKENDS, backend_class, backend_names, create_backend, register_backend

__all__ = ["BACKENDS", "Backend", "backend_class", "backend_names", "create_backend", "register_backend"]
