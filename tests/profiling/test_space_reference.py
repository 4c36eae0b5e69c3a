"""The interleaved protocol times candidates beside a network of their own space (nas.profiling.space_reference):
which network, that its file is the same in every run, and that measurements, keys and baselines name it."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import torch

from hw_profiles import MeasurementStore, create_backend, load_profile
from hw_profiles.in_process_pool import InProcessPool
from hw_profiles.reference import baseline_path, reference_sha256
from nas.profiling.profiler import Profiler, measurement_key, precision_arguments
from nas.profiling.space_reference import reference_identity, reference_model
from search_spaces import create_space


def _profile():
    """x86-cpu-ort (interleaved), timing as little as the protocol allows."""
    return dataclasses.replace(load_profile("x86-cpu-ort"), min_repeats=6, min_time_ms=5, warmup_runs=2,
                               warmup_ms=1, max_time_ms=200)


def _space(profile):
    return create_space("vit", image_size=8, in_channels=1, num_classes=10, depth_choices=(1, 2, 3),
                        embed_dim_choices=(16, 32, 48, 64), **precision_arguments(profile, "vit"))


def test_the_middle_network_takes_every_choice_at_its_middle_option():
    space = _space(_profile())
    middle = space.middle()
    assert middle["depth"] == 2 and middle["embed_dim"] == 32  # (1, 2, 3) and the lower middle of four
    for key, value in middle.items():
        values = list(space.choices[key].values)
        active = key not in space.inactive_keys(middle)
        assert value == (values[(len(values) - 1) // 2] if active else values[0]), key
    assert space.config_id(middle) == space.config_id(space.canonical(middle))


def test_the_reference_file_is_the_same_in_every_call_and_leaves_the_random_state_alone():
    space = _space(_profile())
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = reference_model(space)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert reference_model(space) == first
    assert hashlib.sha256(first).hexdigest() != reference_sha256()  # not the fixed MLP


def test_profiling_times_beside_the_space_reference_and_keys_and_calibrates_by_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path / "cache"))
    profile = _profile()
    space = _space(profile)
    with MeasurementStore(tmp_path / "m.db") as store:
        profiler = Profiler(space, space.build_supernet().eval(), profile, store, pool=InProcessPool(profile))
        fixed_key = measurement_key(profiler.fingerprint, "onnx")
        assert profiler.key == measurement_key(profiler.fingerprint, "onnx", reference=reference_identity(space))
        assert profiler.key != fixed_key  # measurements beside the fixed MLP are not reused
        measured = profiler.measure(space.largest())
        assert measured.measurement.protocol == "interleaved"
        sha256 = hashlib.sha256(profiler.reference).hexdigest()
        record = json.loads(baseline_path(profile.fingerprint(), sha256).read_text())
        assert record["reference_sha256"] == sha256
        assert measured.measurement.reference_baseline_ms == record["baseline_ms"]
        assert not baseline_path(profile.fingerprint()).exists()  # the fixed MLP was never calibrated
        assert store.get(profiler.key, space.key, measured.config_id) is not None
        assert store.get(fixed_key, space.key, measured.config_id) is None


def test_the_reference_is_what_the_ratio_is_taken_against(tmp_path, monkeypatch):
    """The same candidate beside itself (ratio about 1, whatever the machine does) and beside a far smaller
    network (ratio well above 1): the ratio is taken against the reference given."""
    monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path / "cache"))
    from nas.models.onnx_export import export_onnx

    profile = _profile()
    space = _space(profile)
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    largest = export_onnx(supernet.extract(space.at_precision(space.largest(), "fp32")), space.input_shape,
                          tmp_path / "largest.onnx")
    smallest = export_onnx(supernet.extract(space.at_precision(space.smallest(), "fp32")), space.input_shape,
                           tmp_path / "smallest.onnx")
    backend = create_backend(profile)
    beside_itself = backend.measure(largest, space.input_shape, reference=largest.read_bytes())
    beside_smallest = backend.measure(largest, space.input_shape, reference=smallest.read_bytes())
    assert 0.8 < beside_itself.ratio < 1.25, beside_itself
    assert beside_smallest.ratio > 1.5, beside_smallest


def test_a_plain_profile_has_no_reference_and_keeps_its_key(tmp_path):
    profile = dataclasses.replace(_profile(), protocol="plain")
    space = _space(profile)
    with MeasurementStore(tmp_path / "m.db") as store:
        profiler = Profiler(space, space.build_supernet().eval(), profile, store, pool=InProcessPool(profile))
        assert profiler.reference is None and profiler.uses_reference is False
        assert profiler.key == measurement_key(profiler.fingerprint, "onnx")
