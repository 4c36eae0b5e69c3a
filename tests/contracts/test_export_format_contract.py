"""The export-format contract, run over every registered format (`FORMATS.in_order()` at collection time, so a
newly registered format is tested without anyone listing it), on the smallest network of a supernet trained
two epochs on `digits` (the shared `trained_digits_run` fixture) and a profile that times briefly:

* a per-model format either says in one line why it cannot be made here (`unavailable`, e.g. tensorrt
  without TensorRT) or goes through the export's own path (nas.export.network.export_artifact): the file
  is written, `verify` reports the documented keys with verified True, and the file is re-timed;
* a bundle format (`elastic`) is written from the model cards of two exported networks, loads with
  ElasticModel.load, and `select` picks the variant a latency budget allows;
* an ONNX format's file carries the hwnas metadata (the input's preprocessing, its config), and a bundle
  the deployment record.

Nothing is skipped. `check_export_format(name, run, folder)` is the whole check; tests/contracts/
test_registry.py calls it on a throwaway format registered for the test.
"""

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from hw_profiles import MeasurementStore, load_profile
from nas.export.deployment import deployment_record, read_metadata
from nas.export.elastic import ElasticModel
from nas.export.formats import FORMATS, ExportFormat, ExportOptions, create_format
from nas.export.network import export_artifact, export_network, sha256_of
from nas.models.checkpoint import open_run
from nas.models.evaluate import evaluation_network
from nas.profiling.profiler import Profiler
from nas.run_folder import RunFolder

# What `ExportFormat.verify` documents it returns, at least.
VERIFY_KEYS = {"test_accuracy_torch", "test_accuracy_runtime", "max_abs_logit_difference", "verified"}
FAST_TIMING = dict(warmup_ms=5, warmup_runs=3, min_repeats=5, min_time_ms=20)  # a contract, not a benchmark
CALIBRATION_SAMPLES = 8  # training samples for schemes with static activation scales (as export passes 64)


@lru_cache(maxsize=2)
def opened_run(run: str):
    """(space, supernet, dataset) of the trained run folder `run`, opened once per run."""
    return open_run(RunFolder(Path(run)))


def fast_profiler(space, supernet, folder: Path) -> Profiler:
    """The run's default profile (x86-cpu-ort: fp32 and ort-dynamic int8) timing a few runs only."""
    profile = replace(load_profile("x86-cpu-ort"), name="contract-fast", **FAST_TIMING)
    return Profiler(space, supernet, profile, MeasurementStore(folder / "measurements.db"))


def export_options(dataset) -> ExportOptions:
    return ExportOptions(calibration=tuple(dataset.x_train[i:i + 1] for i in range(CALIBRATION_SAMPLES)))


def check_one_file(export_format: ExportFormat, space, supernet, dataset, folder: Path, profiler: Profiler) -> None:
    """Write, verify and re-time the smallest network in `export_format`, as `hwnas export` does."""
    networks: dict = {}

    def network_of(config):
        return networks.setdefault(space.config_id(config),
                                   evaluation_network(space, supernet, config, dataset.x_train))

    deployment = deployment_record(dataset, profiler.profile, profiler.fingerprint, folder)
    artifact = export_artifact(export_format, space, network_of, dataset, space.smallest(), folder, profiler,
                               export_options(dataset), deployment)
    path = folder / artifact["file"]
    if export_format.onnx_metadata:  # an ONNX file stands alone: its input's preprocessing is inside
        import onnx

        properties = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
        metadata = read_metadata(properties, export_format.name)
        assert metadata["preprocessing"] == deployment["preprocessing"]
        assert metadata["config"]["config"] == export_format.config(space, space.smallest())
    assert path.name.endswith(export_format.suffix) and path.is_file()
    assert path.stat().st_size == artifact["file_bytes"] > 0 and sha256_of(path) == artifact["sha256"]
    assert VERIFY_KEYS <= set(artifact), f"{export_format.name}: verify lacks {VERIFY_KEYS - set(artifact)}"
    assert artifact["verified"] is True, artifact
    assert 0.0 <= artifact["test_accuracy_runtime"] <= 1.0 and np.isfinite(artifact["max_abs_logit_difference"])
    assert artifact["latency_ms"] > 0 and artifact["latency_runs"] >= FAST_TIMING["min_repeats"]
    assert artifact["hardware_profile"] == profiler.profile.name


def check_bundle(export_format: ExportFormat, space, supernet, dataset, folder: Path, profiler: Profiler) -> None:
    """Export the smallest and largest networks in `onnx` (their model cards), bundle them, load the bundle
    and select by latency budget."""
    networks: dict = {}
    cards = [export_network(space, supernet, dataset, {"config": config, "val_accuracy": 0.5}, folder, profiler,
                            [create_format("onnx")], {}, export_options(dataset), networks)
             for config in (space.smallest(), space.largest())]
    deployment = deployment_record(dataset, profiler.profile, profiler.fingerprint, folder)
    path = export_format.write_bundle(folder, space, supernet, cards, networks, False, deployment)
    assert path.is_file() and path.parent == folder
    model = ElasticModel.load(path)
    assert model.deployment == deployment
    assert {variant.name for variant in model.variants} == {card["config_id"] for card in cards}
    fastest = min(model.variants, key=lambda variant: variant.latency_ms)
    assert model.select(latency_ms=fastest.latency_ms).latency_ms <= fastest.latency_ms
    chosen = model.select(latency_ms=max(variant.latency_ms for variant in model.variants))
    assert chosen.accuracy == max(variant.accuracy for variant in model.variants)
    with torch.no_grad():
        logits = model.module(chosen)(torch.from_numpy(dataset.x_test[:4]))
    assert tuple(logits.shape) == (4, dataset.num_classes)


def check_export_format(name: str, run: Path, folder: Path) -> str:
    """The contract on the registered export format `name`, on the trained run folder `run`, writing into
    `folder`: 'unavailable' (after checking the one-line reason), 'exported' or 'bundled'."""
    export_format = create_format(name)
    assert isinstance(export_format, ExportFormat) and export_format.name == name
    assert export_format.suffix.startswith(".") and FORMATS.describe(name)
    space, supernet, dataset = opened_run(str(run))
    profiler = fast_profiler(space, supernet, folder)
    reason = export_format.unavailable(space, profiler.profile)
    if reason is not None:
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason, f"{name} unavailable: {reason!r}"
        return "unavailable"
    if export_format.per_model:
        check_one_file(export_format, space, supernet, dataset, folder, profiler)
        return "exported"
    check_bundle(export_format, space, supernet, dataset, folder, profiler)
    return "bundled"


@pytest.mark.parametrize("name", FORMATS.in_order())
def test_every_format_exports_verifies_and_retimes_or_says_why_not(name, trained_digits_run, tmp_path):
    check_export_format(name, trained_digits_run, tmp_path)


def test_onnx_is_first_and_always_exports(trained_digits_run, tmp_path):
    """`onnx` (the network as searched) is written first and can be made everywhere: the contract's
    "exported" branch runs on every machine."""
    assert FORMATS.in_order()[0] == "onnx"
    assert check_export_format("onnx", trained_digits_run, tmp_path) == "exported"
