"""A measurement of an ONNX file is stored under the profile's fingerprint joined with how the file was made
(exporter, opset): a store written before the default opset or exporter changed is not reused for the new
graphs, whose latency differs, and its networks are measured again."""

from hw_profiles import MeasurementStore, load_profile
from hw_profiles.measurement import Measurement
from nas.models.onnx_exporters import DEFAULT_EXPORTER, DEFAULT_OPSET
from nas.profiling.profiler import Profiler, measurement_key
from search_spaces import create_space


def test_the_key_is_the_fingerprint_for_torch_modules_and_names_the_export_for_onnx_files():
    fingerprint = "0123456789abcdef"
    assert measurement_key(fingerprint, "torch") == fingerprint
    onnx = measurement_key(fingerprint, "onnx")
    assert onnx != fingerprint and len(onnx) == 16 and int(onnx, 16) >= 0
    assert onnx == measurement_key(fingerprint, "onnx", DEFAULT_EXPORTER, DEFAULT_OPSET)
    others = {measurement_key(fingerprint, "onnx", DEFAULT_EXPORTER, 18),
              measurement_key(fingerprint, "onnx", "torchscript", DEFAULT_OPSET),
              measurement_key("fedcba9876543210", "onnx")}
    assert onnx not in others and len(others) == 3


def test_a_measurement_stored_before_the_export_was_in_the_key_is_measured_again(tmp_path, fast_profile):
    space = create_space("vit", image_size=8, in_channels=1, num_classes=10, depth_choices=(1,))
    config = space.smallest()
    profile = load_profile(fast_profile)
    stale = Measurement.from_samples([123.0, 123.0, 123.0])  # an opset-18 graph's timing, say
    with MeasurementStore(tmp_path / "m.db") as store:
        store.put(profile.fingerprint(), space.key, space.config_id(config), config, stale)
        profiler = Profiler(space, space.build_supernet().eval(), profile, store)
        assert profiler.key == measurement_key(profiler.fingerprint, "onnx") != profiler.fingerprint
        assert profiler.cached(config) is None
        measured = profiler.measure(config)
        assert measured.latency_ms != 123.0
        assert profiler.cached(config).latency_ms == measured.latency_ms
        assert [record.config_id for record in profiler.records()] == [space.config_id(config)]
        # the old row is left as it was (another hwnas version may still read it)
        assert store.get(profile.fingerprint(), space.key, space.config_id(config)).median_ms == 123.0
