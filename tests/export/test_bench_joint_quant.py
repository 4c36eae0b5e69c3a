"""scripts/bench_joint_quant.py's timing of the largest network at fp32 and int8, on a real run."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.script_modules import load_script


def _script():
    return load_script("bench_joint_quant.py", "bench_joint_quant")


class RecordingProfiler:
    """A profiler whose backends (a fresh real one per use, as the profiler's own) note each file timed."""

    def __init__(self, profiler):
        self.profiler, self.timed = profiler, []

    @property
    def backend(self):
        return RecordingBackend(self.profiler.backend, self.timed)

    @property
    def reference(self):
        return self.profiler.reference


class RecordingBackend:
    def __init__(self, backend, timed):
        self.backend, self.timed = backend, timed

    def measure(self, path, input_shape, reference=None):
        self.timed.append((Path(path).stem, reference))
        return self.backend.measure(path, input_shape, reference=reference)


def test_largest_network_is_timed_at_every_precision_in_turns(trained_digits_run, tmp_path):
    from nas import pipeline
    from nas.run_folder import RunFolder

    run = RunFolder(shutil.copytree(trained_digits_run, tmp_path / "run"))  # its measurements stay out of the shared run
    space, supernet, dataset = pipeline.open_run(run)
    profiler = RecordingProfiler(pipeline.run_profiler(run, space, supernet))
    result = _script()._largest(space, supernet, dataset, profiler, sessions=3)
    # in turns, so that a slow spell of a shared machine slows every precision alike
    assert [stem for stem, _ in profiler.timed] == list(space.precisions) * 3
    # beside the space's reference network, as profiling times them
    assert all(reference == profiler.reference is not None for _, reference in profiler.timed)
    for precision in space.precisions:
        assert len(result[precision]["session_medians_ms"]) == 3
        assert result[precision]["median_ms"] == np.median(result[precision]["session_medians_ms"]) > 0
        assert result[precision]["test_accuracy_torch"] == result[precision]["test_accuracy_onnxruntime"]
    assert result["int8"]["size_mb"] < result["fp32"]["size_mb"] / 2


@pytest.mark.slow
def test_the_race_scores_three_objective_fronts_and_the_sequential_search(tmp_path, digits):
    """A tiny race on predicted latency (a MACs stand-in) and an untrained int4 supernet: every search gets a
    front within its budget, hypervolumes in three objectives, and the paired summary."""
    import argparse

    from search_spaces import create_space

    class MacsPredictor:
        def predict(self, configs):
            return np.array([space.cost_features(config)["macs"] / 1e6 for config in configs])

    class MacsProfiler:  # latency "measured" as the same stand-in: what is tested is the race's bookkeeping
        def measure_all(self, configs, progress=False):
            from types import SimpleNamespace

            return [SimpleNamespace(config_id=space.config_id(c), latency_ms=float(MacsPredictor().predict([c])[0]))
                    for c in configs]

    space = create_space("vit", **digits.space_arguments(), depth_choices=[1, 2], embed_dim_choices=[48, 64],
                         precisions=["fp32", "int8", "int4"])
    supernet = space.build_supernet().eval()
    script = _script()
    names = ("joint", "fp32", "int8", "int4", "sequential")
    arguments = argparse.Namespace(trials=8, budget=3, sampler="nsga2", latency_ms=None)
    races = [script._race(space, supernet, digits, MacsPredictor(), MacsProfiler(), tmp_path, names, arguments, seed)
             for seed in (0, 1)]
    for race in races:
        for name in names:
            result = race["searches"][name]
            assert 0 < len(result["front"]) <= result["measured"] <= 3 and result["hypervolume"] > 0
            if name in ("fp32", "int8", "int4"):
                assert all(set(entry["precisions"]) == {name} for entry in result["front"])
    summary = script._summary(races, names)
    assert summary["joint_minus_int8"]["seeds"] == 2 and len(summary["hypervolume"]["sequential"]) == 2


def test_the_race_measures_no_trial_whose_interval_lies_wholly_above_the_latency_budget(digits):
    """The straddle rule in the race's fronts: over the budget -> not measured; straddling -> measured, and
    admitted only if its measured latency is within the budget."""
    from types import SimpleNamespace

    from search_spaces import create_space

    space = create_space("vit", **digits.space_arguments(), depth_choices=[1, 2], embed_dim_choices=[48, 64])
    supernet = space.build_supernet().eval()
    configs = space.sample_distinct(3, np.random.default_rng(0))
    # predicted 1.0 [0.9, 1.1] (under), 1.4 [0.8, 2.0] (straddles), 3.0 [2.5, 3.5] (wholly over a 1.2 ms budget)
    intervals = [(1.0, 0.9, 1.1), (1.4, 0.8, 2.0), (3.0, 2.5, 3.5)]
    trials = [{"config_id": space.config_id(c), "config": c, "val_accuracy": 0.5 + 0.1 * i, "latency_ms": p,
               "size_mb": 1.0, "predicted_latency_low_ms": low, "predicted_latency_high_ms": high}
              for i, (c, (p, low, high)) in enumerate(zip(configs, intervals))]
    measured_latency = {trials[0]["config_id"]: 1.05, trials[1]["config_id"]: 1.1, trials[2]["config_id"]: 0.1}

    class Profiler:
        def __init__(self):
            self.asked = []

        def measure_all(self, configs, progress=False):
            self.asked += [space.config_id(c) for c in configs]
            return [SimpleNamespace(config_id=space.config_id(c), latency_ms=measured_latency[space.config_id(c)])
                    for c in configs]

    profiler = Profiler()
    front, measured = _script()._measured_front(trials, profiler, supernet, digits, budget=3, latency_ms=1.2)
    assert measured == 2 and trials[2]["config_id"] not in profiler.asked
    assert {entry["config_id"] for entry in front} <= {trials[0]["config_id"], trials[1]["config_id"]}
    assert all(entry["latency_ms"] <= 1.2 for entry in front)


@pytest.mark.slow
def test_the_guided_race_scores_the_joint_search_with_and_without_the_sensitivity_feature(tmp_path, digits):
    """The guided sampler searches (accuracy, latency); its trials still carry sizes (an ONNX export each:
    slow), both joint searches get fronts scored in three objectives and in two, and the summary pairs them
    by seed."""
    import argparse
    from types import SimpleNamespace

    from nas.models.sensitivity import precision_sensitivity
    from search_spaces import create_space

    space = create_space("vit", **digits.space_arguments(), depth_choices=[1, 2], embed_dim_choices=[32],
                         precisions=["fp32", "int8", "int4"])
    supernet = space.build_supernet().eval()

    def macs_ms(config):
        return space.cost_features(config)["macs"] / 1e6

    class MacsPredictor:
        def predict(self, configs):
            return np.array([macs_ms(config) for config in configs])

    class MacsProfiler:
        def measure_all(self, configs, progress=False):
            return [SimpleNamespace(config_id=space.config_id(c), latency_ms=macs_ms(c)) for c in configs]

    increase = precision_sensitivity(space, supernet, digits, batch_size=64)["increase"]
    script = _script()
    names = ("joint", "joint-sensitivity")
    arguments = argparse.Namespace(trials=11, budget=2, sampler="guided", latency_ms=None)
    races = [script._race(space, supernet, digits, MacsPredictor(), MacsProfiler(), tmp_path, names, arguments, seed,
                          increase) for seed in (0,)]
    for race in races:
        for name in names:
            result = race["searches"][name]
            assert result["trials"] == 11 and 0 < len(result["front"]) <= result["measured"] <= 2
            assert result["hypervolume"] > 0 and result["hypervolume_accuracy_latency"] > 0
            assert all(entry["size_mb"] > 0 for entry in result["front"])
    summary = script._summary(races, names)
    paired = summary["sensitivity_minus_joint_hypervolume"]
    assert paired["differences"] == [race["searches"]["joint-sensitivity"]["hypervolume"]
                                     - race["searches"]["joint"]["hypervolume"] for race in races]
    assert paired["worst"] == min(paired["differences"]) and paired["seeds"] == 1


def test_largest_network_of_a_text_space_is_timed_on_token_ids(tmp_path, fast_profile):
    """The largest network of a space whose input is int64 token ids is timed with that input (the race on
    rotten-tomatoes failed here: the bare input shape made the backend feed float32)."""
    from types import SimpleNamespace

    from hw_profiles import create_backend, load_profile
    from search_spaces import create_space

    space = create_space("text_encoder", vocab_size=50, max_length=12, num_classes=2, embed_dim_choices=[32],
                         depth_choices=[1], num_heads_choices=[1], mlp_ratio_choices=[1.0],
                         precisions=["fp32", "int8", "int4"])
    supernet = space.build_supernet().eval()
    rng = np.random.default_rng(0)
    dataset = SimpleNamespace(x_test=rng.integers(1, 50, (6, 12)), y_test=rng.integers(0, 2, 6))
    profiler = SimpleNamespace(backend=create_backend(load_profile(fast_profile)), reference=None)  # plain: none
    result = _script()._largest(space, supernet, dataset, profiler, sessions=1)
    for precision in space.precisions:
        assert result[precision]["median_ms"] > 0
        assert result[precision]["test_accuracy_torch"] == result[precision]["test_accuracy_onnxruntime"]
