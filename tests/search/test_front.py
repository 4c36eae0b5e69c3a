"""measured_front's straddle rule: with a latency budget, a predicted trial whose interval straddles the
budget is measured before it may enter the front; one whose interval lies wholly above it is left out."""

from types import SimpleNamespace

import pytest

from nas.search.front import budget_side, measured_front


class RecordingProfiler:
    """Returns the true latency of each config (by its id) and remembers what it was asked to measure."""

    def __init__(self, true_ms: dict[str, float]) -> None:
        self.true_ms, self.measured = true_ms, []

    def measure_all(self, configs, progress=False, description=""):
        for config in configs:
            self.measured.append(config["id"])
            measurement = SimpleNamespace(iqr_ms=0.0, cv=0.0, noisy=False)
            yield SimpleNamespace(config_id=config["id"], latency_ms=self.true_ms[config["id"]],
                                  measurement=measurement)


def trial(name: str, accuracy: float, predicted: float, low: float | None = None, high: float | None = None) -> dict:
    return {"config_id": name, "config": {"id": name}, "val_accuracy": accuracy, "predicted_latency_ms": predicted,
            "predicted_latency_low_ms": low, "predicted_latency_high_ms": high}


def test_budget_side_reads_the_interval_and_falls_back_to_the_margin():
    assert budget_side(trial("a", 0.9, 8.0, 6.0, 9.0), 10.0) == "under"
    assert budget_side(trial("a", 0.9, 14.0, 9.0, 20.0), 10.0) == "straddles"
    assert budget_side(trial("a", 0.9, 11.0, 10.5, 11.5), 10.0) == "over"
    assert budget_side(trial("a", 0.9, 12.0), 10.0) == "straddles"  # no interval: within 1.25 budgets
    assert budget_side(trial("a", 0.9, 13.0), 10.0) == "over"
    assert budget_side(trial("a", 0.9, 13.0, 0.0, float("inf")), 10.0) == "over"  # unbounded: the margin


def test_a_straddling_trial_is_measured_and_enters_the_front_only_on_its_measured_latency():
    trials = [trial("fast", 0.80, 5.0, 4.0, 6.0),
              # predicted 1.4 budgets (the fixed margin would drop it) but its interval reaches under the budget
              trial("straddler", 0.95, 14.0, 8.0, 24.0),
              trial("straddler-too-slow", 0.97, 12.0, 9.0, 16.0),
              # predicted within the margin, yet its interval lies wholly above the budget
              trial("surely-over", 0.99, 11.0, 10.5, 11.5)]
    profiler = RecordingProfiler({"fast": 5.0, "straddler": 9.5, "straddler-too-slow": 10.5, "surely-over": 11.0})
    front, measured = measured_front(trials, profiler, latency_ms=10.0, min_models=5, max_measured=10, progress=False)
    assert "surely-over" not in profiler.measured
    assert {"straddler", "straddler-too-slow"} <= set(profiler.measured)
    assert [entry["config_id"] for entry in front] == ["fast", "straddler"]
    straddler = next(entry for entry in front if entry["config_id"] == "straddler")
    assert straddler["latency_ms"] == pytest.approx(9.5) and straddler["budget_side"] == "straddles"
    assert all(entry["latency_ms"] <= 10.0 for entry in front)  # the slow straddler was measured and refused
    assert {entry["config_id"] for entry in measured} == {"fast", "straddler", "straddler-too-slow"}


def test_without_a_budget_every_trial_is_a_candidate():
    trials = [trial("a", 0.8, 5.0, 4.0, 6.0), trial("b", 0.9, 50.0, 45.0, 55.0)]
    profiler = RecordingProfiler({"a": 5.0, "b": 50.0})
    front, _ = measured_front(trials, profiler, None, min_models=2, max_measured=10, progress=False)
    assert [entry["config_id"] for entry in front] == ["a", "b"] and "budget_side" not in front[0]
