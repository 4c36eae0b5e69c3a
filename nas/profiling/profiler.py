"""Profiling takes one path: extract -> export ONNX -> a pool worker times it -> measurement store.

A measurement is keyed by (profile fingerprint, space key, config_id), where a backend timing ONNX files
folds how the file is made (exporter, opset) into the fingerprint (`measurement_key`); what the store
already holds is never measured again, and each measurement is committed as soon as it finishes.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from nas.errors import HwnasError
from nas.models.onnx_export import export_onnx
from nas.models.onnx_exporters import DEFAULT_EXPORTER, DEFAULT_OPSET
from nas.profiling.space_reference import reference_identity, reference_model

LOGGER = logging.getLogger(__name__)
BUSY_SLOWDOWN = 0.20  # the reference this much slower than its baseline: the machine is busy


@dataclass(frozen=True)
class MeasuredConfig:
    config_id: str
    config: dict
    latency_ms: float  # median
    measurement: Any  # hw_profiles.Measurement


def check_space_fits_profile(space: Any, profile: Any) -> None:
    """A space may only offer precisions (and an int8 scheme) that the profile's runtime executes (a space
    with int4 layers on a profile without int4 is refused here, in one line)."""
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

    family = space_class(space_name)
    if not family.supports_precisions:
        return {}
    trainable = getattr(family, "trainable_precisions", ("int8", "fp32"))
    precisions = [precision for precision in profile.precisions if precision in trainable]
    if not precisions:
        raise HwnasError(f"profile {profile.name!r} declares precisions {list(profile.precisions)}, none of which "
                         f"space {space_name!r} can train (it offers {list(trainable)})")
    return {"precisions": precisions, **({"int8_scheme": profile.int8_scheme} if "int8" in precisions else {})}


class Profiler:
    """Measures sub-networks of one supernet on one hardware profile, through the store.

    Timing runs on a worker pool (``hw_profiles.create_pool``): by default one worker in this process;
    pass a Ray pool to time on several cores, GPUs or machines. This process extracts and exports each
    network while the workers time the previous ones, and stores every measurement the moment it
    arrives, so a run killed at any point keeps everything finished before.
    """

    def __init__(self, space: Any, supernet: Any, profile: Any, store: Any, pool: Any = None) -> None:
        from hw_profiles.backends import backend_class

        self.space, self.supernet, self.profile, self.store = space, supernet, profile, store
        check_space_fits_profile(space, profile)
        if pool is None:  # one worker, here; it says why when the profile cannot run on this machine
            from hw_profiles.in_process_pool import InProcessPool

            pool = InProcessPool(profile)
        self.pool = pool
        self.model_format = backend_class(profile.backend).model_format
        self.fingerprint = pool.fingerprint()  # of the environment the workers time in
        # The interleaved protocol times every ONNX file beside the space's middle network
        # (nas.profiling.space_reference), built on first use
        self.uses_reference = profile.protocol == "interleaved" and self.model_format == "onnx"
        identity = reference_identity(space) if self.uses_reference else None
        # the store's key: what was timed, beside what, and where
        self.key = measurement_key(self.fingerprint, self.model_format, reference=identity)
        # Wall seconds of this process spent extracting + exporting, and waiting for the workers' timings;
        # and the workers' own seconds on tasks (summed over workers: busy share = worker_busy / workers / wall).
        self.seconds = {"export": 0.0, "timing": 0.0, "worker_busy": 0.0}
        self.busy_warned = False  # `hwnas profile` says once when the reference slows by more than BUSY_SLOWDOWN

    @functools.cached_property
    def reference(self) -> bytes | None:
        """The ONNX bytes of the network every candidate is timed beside, built on first use (None: the
        profile's protocol has no reference, or its backend times modules)."""
        return reference_model(self.space) if self.uses_reference else None

    @property
    def backend(self) -> Any:
        """A backend for timing outside the pool in this process (benchmarks that time a file repeatedly)."""
        from hw_profiles import create_backend

        return create_backend(self.profile)

    def cached(self, config: Mapping[str, Any]) -> MeasuredConfig | None:
        config_id = self.space.config_id(config)
        measurement = self.store.get(self.key, self.space.key, config_id)
        if measurement is None:
            return None
        return MeasuredConfig(config_id, self.space.canonical(config), measurement.median_ms, measurement)

    def measure(self, config: Mapping[str, Any]) -> MeasuredConfig:
        """The stored measurement of `config`, measuring it first if the store has none."""
        return self.measure_all([config], progress=False)[0]

    def measure_all(self, configs: Iterable[Mapping[str, Any]], progress: bool = True,
                    description: str = "profiling") -> list[MeasuredConfig]:
        """Measurements of `configs` (in their order): stored ones are reused, the others are timed on the
        pool and stored as each finishes. Networks that fail are reported together at the end."""
        from tqdm.auto import tqdm

        configs = [self.space.canonical(config) for config in configs]
        config_ids = [self.space.config_id(config) for config in configs]
        found = {config_id: self.cached(config) for config_id, config in zip(config_ids, configs)}
        found = {config_id: measured for config_id, measured in found.items() if measured is not None}
        missing = {config_id: config for config_id, config in zip(config_ids, configs) if config_id not in found}
        failures = []
        started, exported_before = time.perf_counter(), self.seconds["export"]
        with tqdm(total=len(found) + len(missing), initial=len(found), desc=description, unit="net",
                  disable=not progress or not missing) as bar:
            for result in self.pool.run(self._tasks(missing)):
                self.seconds["worker_busy"] += result.seconds
                if result.ok:
                    config = missing[result.key]
                    self.store.put(self.key, self.space.key, result.key, config, result.measurement)
                    self._watch_drift(result.measurement)
                    found[result.key] = MeasuredConfig(result.key, config, result.measurement.median_ms,
                                                       result.measurement)
                else:
                    failures.append(result)
                bar.update(1)
        self.seconds["timing"] += time.perf_counter() - started - (self.seconds["export"] - exported_before)
        if failures:
            raise HwnasError(f"{len(failures)} of {len(missing)} networks could not be measured on profile "
                             f"{self.profile.name!r} (the other {len(missing) - len(failures)} are stored); "
                             f"first, {failures[0].key}: {failures[0].error}")
        return [found[config_id] for config_id in config_ids]

    def time_again(self, configs: Iterable[Mapping[str, Any]], progress: bool = True,
                   description: str = "re-measuring") -> list[Any]:
        """Fresh measurements of `configs` (hw_profiles.Measurement, in their order), timed now and not
        stored: the store keeps each network's first measurement. Used to confirm a front."""
        from tqdm.auto import tqdm

        configs = {self.space.config_id(config): self.space.canonical(config) for config in configs}
        found = {}
        with tqdm(total=len(configs), desc=description, unit="net", disable=not progress or not configs) as bar:
            for result in self.pool.run(self._tasks(configs)):
                if not result.ok:
                    raise HwnasError(f"network {result.key} could not be re-measured on profile "
                                     f"{self.profile.name!r}: {result.error}")
                found[result.key] = result.measurement
                self.store.log_reference(self.fingerprint, self.space.key, result.key, result.measurement)
                self._watch_drift(result.measurement)
                bar.update(1)
        return [found[config_id] for config_id in configs]

    def _tasks(self, configs: Mapping[str, Mapping[str, Any]]) -> Iterator[Any]:
        """One TimingTask per config, made when the pool asks for it (so export overlaps with timing)."""
        from hw_profiles.timing_task import TimingTask

        for config_id, config in configs.items():
            started = time.perf_counter()
            model = self._model(config)
            self.seconds["export"] += time.perf_counter() - started
            yield TimingTask(config_id, model, input_spec(self.space), reference=self.reference)

    def _model(self, config: Mapping[str, Any]) -> Any:
        """What the backend times: the extracted module ("torch" backends) or its ONNX file's bytes."""
        network = self.supernet.extract(config)
        if self.model_format == "torch":
            return network
        with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as folder:
            return export_onnx(network, self.space.input_shape, Path(folder) / "model.onnx").read_bytes()

    def time_model(self, key: str, model: Any) -> Any:
        """Time one given model (an ONNX file's bytes, or a module for "torch" backends) on the pool, now,
        and return its Measurement. Nothing is stored: the store keys by config, and this is one file
        (e.g. an exported artifact, re-timed so that its card reports the file it describes)."""
        from hw_profiles.timing_task import TimingTask

        result = list(self.pool.run([TimingTask(key, model, input_spec(self.space), reference=self.reference)]))[0]
        if not result.ok:
            raise HwnasError(f"{key} could not be timed on profile {self.profile.name!r}: {result.error}")
        self.store.log_reference(self.fingerprint, self.space.key, key, result.measurement)
        self._watch_drift(result.measurement)
        return result.measurement

    def _watch_drift(self, measurement: Any) -> None:
        """Warn once when the reference network runs more than BUSY_SLOWDOWN slower than its baseline: the
        machine is busy. Rankings hold (they come from ratios); the warning says so."""
        from hw_profiles.measurement import machine_speed

        reference, baseline = machine_speed(measurement)  # the reference back to back: whatever the candidate
        if self.busy_warned or reference is None or not baseline or reference <= baseline * (1 + BUSY_SLOWDOWN):
            return
        self.busy_warned = True
        LOGGER.warning(f"warning: the reference network runs {reference / baseline - 1:.0%} slower than its baseline "
                       f"on this machine ({reference:.3f} vs {baseline:.3f} ms): the machine is busy. Latencies are "
                       f"ratios to the reference, so rankings hold, but measurements take longer and may be "
                       f"flagged noisy; `hwnas report` plots the drift")

    def records(self) -> list[MeasuredConfig]:
        return [MeasuredConfig(config_id, config, measurement.median_ms, measurement)
                for config_id, config, measurement in self.store.records(self.key, self.space.key)]


def measurement_key(fingerprint: str, model_format: str, exporter: str = DEFAULT_EXPORTER,
                    opset: int = DEFAULT_OPSET, reference: str | None = None) -> str:
    """The store's first key of a measurement: the profile's fingerprint where the backend times the torch
    module itself; where it times an ONNX file, that fingerprint joined with how the file was made. The same
    network exported by another exporter or at another opset is another graph with another latency (at opset
    18 the dynamo exporter leaves GELU unfused, up to 14% slower on x86-cpu-ort), so a store written before a
    change of either is not reused: its networks are measured again. `reference` names the network the
    interleaved protocol timed them beside (nas.profiling.space_reference.reference_identity; None: the
    profile's fixed one), whose baseline sets their milliseconds."""
    if model_format == "torch":
        return fingerprint
    import hashlib

    made = f"{fingerprint}|onnx:{exporter}:opset{opset}" + (f"|reference:{reference}" if reference else "")
    return hashlib.sha256(made.encode()).hexdigest()[:16]


def input_spec(space: Any) -> Any:
    """What the backends feed the space's networks: its input shape, type and (integer inputs) value range."""
    from hw_profiles import InputSpec

    low, high = space.input_range or (0, None)
    return InputSpec(tuple(space.input_shape), dtype=space.input_dtype, low=low, high=high)


MAXIMUM_COUNT = 1_000_000  # networks one `profile` may be asked for


def check_count(count: int, space: Any = None) -> None:
    """--count: 8 to MAXIMUM_COUNT, and (given the space) no more than the networks the space holds,
    refused before any sampling (asking for more used to spend minutes drawing configs first)."""
    if count < 8 or count > MAXIMUM_COUNT:
        raise HwnasError(f"--count must be between 8 (the predictor needs measurements to fit) and "
                         f"{MAXIMUM_COUNT:,}, got {count}")
    if space is not None and count > space.size():
        raise HwnasError(f"--count {count}: space {space.name!r} holds only {space.size()} distinct networks; "
                         f"ask for at most {space.size()}")


def profiling_configs(space: Any, count: int, seed: int, strategy: str = "random") -> list[dict]:
    """`count` distinct configs chosen by `strategy` (see nas.profiling.strategies), largest and smallest first."""
    from nas.profiling.strategies import STRATEGIES

    return STRATEGIES.get(strategy)(space, count, seed)


def run_profiler(run: Any, space: Any, supernet: Any, profile_name: str | None = None, pool: Any = None) -> Profiler:
    """The Profiler of a run folder: its measurement store, and `profile_name` or the run's recorded profile."""
    from hw_profiles import MeasurementStore, load_profile

    from nas.run_folder import DEFAULT_PROFILE

    profile = load_profile(profile_name or run.settings().get("profile", DEFAULT_PROFILE))
    return Profiler(space, supernet, profile, MeasurementStore(run.measurements), pool=pool)
