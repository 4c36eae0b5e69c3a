"""Durability as documented (issue #24), checked on the system calls themselves (strace): a file written
through `write_atomically` or `save_predictor` has its data and, after the rename, its folder fsynced, so
the new name survives a power loss; the measurement store commits with SQLite's synchronous=FULL."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def traced(code: str, folder: Path) -> list[str]:
    """The fsync, rename and open calls made by `code` run in a fresh interpreter under strace."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed: the system calls cannot be observed")
    log = folder / "strace.log"
    result = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat,openat",
                             "-o", str(log), sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip().splitlines()[0]}")
    assert result.returncode == 0, result.stderr
    return [line.split(None, 1)[1] for line in log.read_text().splitlines() if line.strip()]


def assert_folder_fsynced_after_rename(calls: list[str], target: Path) -> None:
    renamed = [index for index, call in enumerate(calls)
               if call.startswith(("rename", "link")) and f'"{target}"' in call]
    assert renamed, f"no rename onto {target}"
    later = calls[renamed[-1] + 1:]
    opened = [call.rsplit("= ", 1)[1] for call in later
              if call.startswith("openat") and f'"{target.parent}"' in call and "= " in call]
    assert opened, f"the folder {target.parent} was not opened after the rename: {later[:6]}"
    assert any(call.startswith(f"fsync({descriptor})") for descriptor in opened for call in later), \
        f"the folder {target.parent} was not fsynced after the rename: {later[:6]}"


def test_write_atomically_fsyncs_the_file_and_then_its_folder(tmp_path):
    target = tmp_path / "run" / "run.json"
    calls = traced(f"""
        from pathlib import Path
        from nas.run_folder import write_atomically
        write_atomically(Path({str(target)!r}), "{{}}")
    """, tmp_path)
    assert any(call.startswith("fsync(") for call in calls[:[c.startswith("rename") for c in calls].index(True)])
    assert_folder_fsynced_after_rename(calls, target)


def test_a_predictor_file_fsyncs_its_folder_after_the_rename(tmp_path):
    target = tmp_path / "predictor.joblib"
    calls = traced(f"""
        import numpy as np
        from predictors import create_predictor, save_predictor
        from search_spaces import create_space
        space = create_space("nb201")
        configs = [space.sample(seed) for seed in range(12)]
        latency = np.array([1 + space.cost_features(c)["computed_macs"] / 1e8 for c in configs])
        save_predictor(create_predictor("ridge", space=space).fit(configs, latency), {str(target)!r}, {{}})
    """, tmp_path)
    assert_folder_fsynced_after_rename(calls, target)


def test_the_measurement_store_commits_with_synchronous_full(tmp_path):
    from hw_profiles import MeasurementStore

    with MeasurementStore(tmp_path / "measurements.db") as store:
        assert store._connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_measurements_csv_export_fsyncs_its_folder_after_the_rename(tmp_path):
    """`hwnas measurements --export`: the file was fsynced, but not the folder after the rename."""
    target = tmp_path / "export" / "measurements.csv"
    target.parent.mkdir()
    calls = traced(f"""
        from hw_profiles import MeasurementStore
        from hw_profiles.store_csv import export_csv
        with MeasurementStore({str(tmp_path / "m.db")!r}) as store:
            export_csv(store, {str(target)!r})
    """, tmp_path)
    assert_folder_fsynced_after_rename(calls, target)


def test_the_tensorrt_timing_cache_is_fsynced_and_its_folder_after_the_rename(tmp_path):
    """The tensorrt backend's timing-cache writer neither fsynced the file nor its folder (it needs no GPU)."""
    target = tmp_path / "cache" / "timing.cache"
    calls = traced(f"""
        from pathlib import Path
        from hw_profiles.backends.tensorrt_backend import _write_atomically
        _write_atomically(Path({str(target)!r}), b"cache bytes")
    """, tmp_path)
    renamed = [c.startswith("rename") for c in calls].index(True)
    assert any(call.startswith("fsync(") for call in calls[:renamed])
    assert_folder_fsynced_after_rename(calls, target)


def test_the_reference_baseline_fsyncs_its_folder_after_it_is_linked_into_place(tmp_path):
    """The calibrated baseline (in $HWNAS_CACHE_DIR/reference/, shared by every run) is linked into place."""
    calls = traced(f"""
        import os
        os.environ["HWNAS_CACHE_DIR"] = {str(tmp_path / "cache")!r}
        from hw_profiles import reference
        reference.load_or_calibrate("test-fingerprint", lambda: None)
        print(reference.baseline_path("test-fingerprint"))
    """, tmp_path)
    target = next((tmp_path / "cache" / "reference").glob("*.json"))
    assert_folder_fsynced_after_rename(calls, target)
