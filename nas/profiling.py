"""Profiling takes one path: extract -> export ONNX -> backend.measure -> measurement store.

A measurement is keyed by (profile fingerprint, space key, config_id); what the store already holds
is never measured again, and each measurement is committed as soon as it finishes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from nas.errors import HwnasError
from nas.onnx_export import export_onnx


@dataclass(frozen=True)
class MeasuredConfig:
    config_id: str
    config: dict
    latency_ms: float  # median
    measurement: Any  # hw_profiles.Measurement


def check_space_fits_profile(space: Any, profile: Any) -> None:
    """A space may only offer precisions (and an int8 scheme) that the profile's runtime executes."""
    from hw_profiles import ProfileError

    precisions = getattr(space, "precisions", ("fp32",))
    unsupported = [precision for precision in precisions if precision not in profile.precisions]
    if unsupported:
        raise ProfileError(f"space {space.key} offers precision {unsupported[0]!r}, which profile {profile.name!r} "
                           f"does not run (its precisions: {list(profile.precisions)}); train the supernet for this "
                           f"profile (hwnas train --profile {profile.name})")
    if "int8" in precisions and getattr(space, "int8_scheme", None) != profile.int8_scheme:
        raise ProfileError(f"space {space.key} runs int8 as {space.int8_scheme!r}, but profile {profile.name!r} "
                           f"executes {profile.int8_scheme!r}; train the supernet for this profile")


def precision_arguments(profile: Any, space_name: str) -> dict:
    """Space arguments that restrict a space's precisions to those the profile's runtime executes."""
    from search_spaces import space_class
    from search_spaces.quantization import PRECISIONS

    if not space_class(space_name).supports_precisions:
        return {}
    precisions = [precision for precision in profile.precisions if precision in PRECISIONS]
    if not precisions:
        raise HwnasError(f"profile {profile.name!r} declares precisions {list(profile.precisions)}, none of which "
                         f"the search spaces can train yet (they offer {list(PRECISIONS)})")
    return {"precisions": precisions, **({"int8_scheme": profile.int8_scheme} if "int8" in precisions else {})}


class Profiler:
    """Measures sub-networks of one supernet on one hardware profile, through the store."""

    def __init__(self, space: Any, supernet: Any, profile: Any, store: Any) -> None:
        from hw_profiles import ProfileError, create_backend

        self.space, self.supernet, self.profile, self.store = space, supernet, profile, store
        check_space_fits_profile(space, profile)
        self.backend = create_backend(profile)
        available, reason = self.backend.available()
        if not available:
            raise ProfileError(f"profile {profile.name!r} cannot run on this machine: {reason}")
        self.fingerprint = profile.fingerprint()
        self.seconds = {"export": 0.0, "timing": 0.0}  # where this profiler's wall time went

    def cached(self, config: Mapping[str, Any]) -> MeasuredConfig | None:
        config_id = self.space.config_id(config)
        measurement = self.store.get(self.fingerprint, self.space.key, config_id)
        if measurement is None:
            return None
        return MeasuredConfig(config_id, self.space.canonical(config), measurement.median_ms, measurement)

    def measure(self, config: Mapping[str, Any]) -> MeasuredConfig:
        """The stored measurement of `config`, measuring it first if the store has none."""
        found = self.cached(config)
        if found is not None:
            return found
        config = self.space.canonical(config)
        config_id = self.space.config_id(config)
        with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as folder:
            started = time.perf_counter()
            model = self._model(config, Path(folder))
            prepared = time.perf_counter()
            measurement = self.backend.measure(model, self.space.input_shape)
            self.seconds["export"] += prepared - started
            self.seconds["timing"] += time.perf_counter() - prepared
        self.store.put(self.fingerprint, self.space.key, config_id, config, measurement)
        return MeasuredConfig(config_id, config, measurement.median_ms, measurement)

    def _model(self, config: Mapping[str, Any], folder: Path) -> Any:
        """What the backend times: the extracted module ("torch" backends) or its ONNX file ("onnx")."""
        network = self.supernet.extract(config)
        if self.backend.model_format == "torch":
            return network
        return export_onnx(network, self.space.input_shape, folder / "model.onnx")

    def measure_all(self, configs: Iterable[Mapping[str, Any]], progress: bool = True,
                    description: str = "profiling") -> list[MeasuredConfig]:
        from tqdm.auto import tqdm

        configs = list(configs)
        return [self.measure(config) for config in tqdm(configs, desc=description, disable=not progress,
                                                         unit="net")]

    def records(self) -> list[MeasuredConfig]:
        return [MeasuredConfig(config_id, config, measurement.median_ms, measurement)
                for config_id, config, measurement in self.store.records(self.fingerprint, self.space.key)]


def profiling_configs(space: Any, count: int, seed: int) -> list[dict]:
    """The largest, the smallest and random configs, `count` distinct ones in all."""
    return space.sample_distinct(count, np.random.default_rng(seed), include=(space.largest(), space.smallest()))
