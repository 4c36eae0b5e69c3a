"""The interface every timing backend implements."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hw_profiles.measurement import Measurement
    from hw_profiles.model_input import InputSpec
    from hw_profiles.profile import HardwareProfile


class Backend(abc.ABC):
    """Times an ONNX model on one runtime and device, as one hardware profile describes.

    Subclasses register with ``@register_backend(name)``, import their runtime lazily (inside methods),
    and time through :func:`hw_profiles.protocol.run_protocol` so every backend follows one protocol.
    """

    name: ClassVar[str] = ""  # set by @register_backend
    # What measure() takes: "onnx" (a path to an ONNX file) or "torch" (a torch.nn.Module).
    model_format: ClassVar[str] = "onnx"

    def __init__(self, profile: HardwareProfile) -> None:
        self.profile = profile

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """``(True, "")`` when this machine can run the profile, else ``(False, reason)``."""

    def uses_gpu(self) -> bool:
        """Whether timing occupies a GPU (a worker pool then gives each worker one GPU of its own)."""
        return False

    @abc.abstractmethod
    def environment(self) -> dict[str, Any]:
        """JSON-serialisable facts that change timings: runtime version, device name, Python version."""

    @abc.abstractmethod
    def measure(self, model: Any, input_shape: tuple[int, ...] | InputSpec,
                reference: bytes | None = None) -> Measurement:
        """Time ``model`` (an ONNX file's path, or a module: see ``model_format``) on a seeded input of
        shape ``(batch_size, *shape)``: random-normal for a bare shape, as ``InputSpec`` says otherwise
        (e.g. int64 token ids in a range); normalise with ``hw_profiles.model_input.as_input_spec``.

        ``reference``: the ONNX bytes of the network the interleaved protocol times beside ``model`` (one
        that takes the same input, e.g. a network of the same search space: nas.profiling.space_reference);
        None gives the fixed reference network of hw_profiles.reference. Backends whose protocol is plain ignore it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile.name!r})"
