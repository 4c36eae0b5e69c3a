"""The machine's drift made visible: the reference's timings kept in the store, a warning when the machine
is busy, and `hwnas report`'s drift plot and summary."""

import dataclasses
import logging

from hw_profiles import MeasurementStore, load_profile
from hw_profiles.measurement import Measurement
from nas.profiling.profiler import BUSY_SLOWDOWN, Profiler
from nas.report.plots import drift_figure, save_png
from nas.report.run_report import drift_summary
from nas.run_folder import RunFolder
from search_spaces import create_space


def interleaved(reference_ms: float, baseline_ms: float = 0.5) -> Measurement:
    return dataclasses.replace(Measurement.from_samples([1.0, 1.02, 0.98]), protocol="interleaved", ratio=2.0,
                               ratio_half_width=0.01, raw_median_ms=1.0, reference_ms=reference_ms,
                               reference_baseline_ms=baseline_ms)


def test_the_profiler_warns_once_when_the_reference_slows_by_more_than_a_fifth(tmp_path, caplog):
    space = create_space("vit", image_size=8, in_channels=1, num_classes=10)
    profiler = Profiler(space, space.build_supernet().eval(), load_profile("x86-cpu-ort"),
                        MeasurementStore(tmp_path / "m.db"))
    with caplog.at_level(logging.WARNING, logger="nas"):
        profiler._watch_drift(interleaved(0.5 * (1 + BUSY_SLOWDOWN) * 0.99))  # within the margin: quiet
        assert not caplog.records
        profiler._watch_drift(interleaved(0.8))
        profiler._watch_drift(interleaved(0.9))
        profiler._watch_drift(Measurement.from_samples([1.0]))  # plain: nothing to compare
    assert len(caplog.records) == 1 and "60% slower than its baseline" in caplog.records[0].getMessage()


def test_the_warning_reads_the_back_to_back_probe_not_the_reference_between_candidates(tmp_path, caplog):
    """Between candidate runs the reference is slowed by what each candidate evicts from the caches (a ViT:
    20-45% here on a quiet machine); the probe, the reference back to back, is not. Measurements that have
    the probe are judged by it alone."""
    space = create_space("vit", image_size=8, in_channels=1, num_classes=10)
    profiler = Profiler(space, space.build_supernet().eval(), load_profile("x86-cpu-ort"),
                        MeasurementStore(tmp_path / "m.db"))
    evicted = dataclasses.replace(interleaved(0.7), probe_ms=0.31, probe_baseline_ms=0.3)  # quiet machine
    with caplog.at_level(logging.WARNING, logger="nas"):
        profiler._watch_drift(evicted)
        assert not caplog.records
        profiler._watch_drift(dataclasses.replace(evicted, probe_ms=0.39))  # the machine itself 30% slower
    assert len(caplog.records) == 1 and "30% slower than its baseline" in caplog.records[0].getMessage()
    with MeasurementStore(tmp_path / "m.db") as store:  # the drift log keeps the probe as well
        store.log_reference("fp", "vit", "a", evicted)
        assert store.reference_log()[-1]["reference_ms"] == 0.31 and store.reference_log()[-1]["baseline_ms"] == 0.3


def test_the_report_plots_the_drift_and_says_how_busy_the_machine_was(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    assert drift_summary(run) is None  # no store yet
    with MeasurementStore(run.measurements) as store:
        for index, reference in enumerate([0.5, 0.52, 0.7, 0.75, 0.5]):
            store.put("fp", "vit", f"net{index}", {"depth": index}, interleaved(reference))
    drift = drift_summary(run)
    assert len(drift["log"]) == 5
    assert "5 timings beside the reference" in drift["summary"] and "40% of them on a busy machine" in drift["summary"]
    path = save_png(drift_figure(drift["log"], BUSY_SLOWDOWN), tmp_path / "drift.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
