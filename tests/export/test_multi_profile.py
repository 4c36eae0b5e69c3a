"""One bundle, several devices (nas.export.profiles, ElasticModel.select(profile=...), dispatch_table): every
exported network re-timed on each profile that runs here, a profile that does not run here skipped with its
reason, selection per device, and bundles of one profile (written before) still loading."""

from dataclasses import replace

import pytest

from hw_profiles import MeasurementStore, load_profile
from nas.errors import HwnasError
from nas.export.elastic import ElasticModel, Variant
from nas.export.formats import ExportOptions, create_format
from nas.export.network import export_network
from nas.export.profiles import latencies_on_profiles, parse_profiles
from nas.models.checkpoint import open_run
from nas.profiling.profiler import Profiler
from nas.run_folder import RunFolder

FAST_TIMING = dict(warmup_ms=5, warmup_runs=3, min_repeats=5, min_time_ms=20)  # a test, not a benchmark


def synthetic(latencies_on_b):
    """Three variants timed on A (their latency_ms) and on B (`latencies_on_b`)."""
    rows = [("small", 1.0, 0.80), ("medium", 2.0, 0.85), ("large", 4.0, 0.90)]
    return ElasticModel(None, [Variant(name, {}, accuracy, latency, hardware_profile="A",
                                       latencies={"B": {"latency_ms": on_b}})
                               for (name, latency, accuracy), on_b in zip(rows, latencies_on_b)],
                        {}, {}, {}, "test bundle", profiles_skipped={"gpu": "no CUDA here"})


def test_select_and_dispatch_table_per_profile():
    # On B the medium network is the slowest (e.g. its layers do not parallelise): it is never worth running.
    model = synthetic([0.5, 3.0, 1.5])
    assert model.profiles == ["A", "B"]
    assert model.select(latency_ms=2.5).name == "medium" and model.select(latency_ms=2.5, profile="B").name == "large"
    assert model.select(latency_ms=1.0, profile="B").name == "small"
    table = model.dispatch_table()
    assert table["A"] == [{"from_ms": 1.0, "to_ms": 2.0, "variant": "small", "latency_ms": 1.0, "accuracy": 0.80},
                          {"from_ms": 2.0, "to_ms": 4.0, "variant": "medium", "latency_ms": 2.0, "accuracy": 0.85},
                          {"from_ms": 4.0, "to_ms": None, "variant": "large", "latency_ms": 4.0, "accuracy": 0.90}]
    assert table["B"] == [{"from_ms": 0.5, "to_ms": 1.5, "variant": "small", "latency_ms": 0.5, "accuracy": 0.80},
                          {"from_ms": 1.5, "to_ms": None, "variant": "large", "latency_ms": 1.5, "accuracy": 0.90}]
    with pytest.raises(HwnasError, match="no variant runs within 0.4 ms on B: the fastest, small, takes 0.5000"):
        model.select(latency_ms=0.4, profile="B")
    with pytest.raises(HwnasError, match=r"no latencies on profile 'gpu' \(not timed where it was exported: no CUDA "
                                         r"here\); its profiles: A, B"):
        model.select(latency_ms=9, profile="gpu")


def test_parse_profiles():
    assert parse_profiles("x86-cpu-ort, x86-cpu-ort-2t,x86-cpu-ort") == ["x86-cpu-ort", "x86-cpu-ort-2t"]
    assert parse_profiles(None) == []
    with pytest.raises(HwnasError, match="--profiles must name hardware profiles"):
        parse_profiles(" , ")


def test_export_retimes_on_every_profile_that_runs_here_and_old_bundles_still_load(trained_digits_run, tmp_path):
    space, supernet, dataset = open_run(RunFolder(trained_digits_run))
    one_thread = replace(load_profile("x86-cpu-ort"), name="contract-fast", **FAST_TIMING)
    profiler = Profiler(space, supernet, one_thread, MeasurementStore(tmp_path / "measurements.db"))
    networks: dict = {}
    cards = [export_network(space, supernet, dataset, {"config": config, "val_accuracy": 0.5}, tmp_path, profiler,
                            [create_format("onnx")], {}, ExportOptions(), networks)
             for config in (space.smallest(), space.largest())]
    bundle = create_format("elastic")
    single = bundle.write_bundle(tmp_path, space, supernet, cards, networks)
    old = ElasticModel.load(single)  # one profile, as every bundle before --profiles
    assert old.profiles == ["contract-fast"] and old.variants[0].latencies is None
    assert list(old.dispatch_table()) == ["contract-fast"]
    with pytest.raises(HwnasError, match="no latencies on profile 'two-threads'"):
        old.select(latency_ms=1e9, profile="two-threads")

    two_threads = replace(load_profile("x86-cpu-ort-2t"), name="two-threads", **FAST_TIMING)
    gpu = load_profile("nvidia-gpu-ort-cuda")  # never available on a CPU-only onnxruntime
    latencies, skipped = latencies_on_profiles([profiler.profile, two_threads, gpu], space, supernet, cards, tmp_path,
                                               MeasurementStore(tmp_path / "measurements.db"), networks)
    assert set(skipped) == {"nvidia-gpu-ort-cuda"} and skipped["nvidia-gpu-ort-cuda"].strip()
    for card in cards:
        timed = latencies[card["config_id"]]
        assert set(timed) == {"contract-fast", "two-threads"}
        assert timed["contract-fast"]["latency_ms"] == card["latency_ms"]  # the card's own re-timing, kept
        assert timed["two-threads"]["latency_ms"] > 0 and timed["two-threads"]["profile_fingerprint"]
        card["latencies"] = timed
    model = ElasticModel.load(bundle.write_bundle(tmp_path, space, supernet, cards, networks, False, None, skipped))
    assert model.profiles == ["contract-fast", "two-threads"] and model.profiles_skipped == skipped
    for profile in model.profiles:
        rows = model.dispatch_table()[profile]
        assert rows[-1]["to_ms"] is None and all(a["to_ms"] == b["from_ms"] for a, b in zip(rows, rows[1:]))
        for row in rows:
            chosen = model.select(latency_ms=row["from_ms"], profile=profile)
            assert chosen.name == row["variant"] and chosen.latency_on(profile) <= row["from_ms"]
        slowest = max(variant.latency_on(profile) for variant in model.variants)
        assert model.select(latency_ms=slowest, profile=profile).accuracy == max(v.accuracy for v in model.variants)
