"""Measurements to CSV and back: merging stores of several machines, and bad CSV files."""

import subprocess
import sys

import pytest

from hw_profiles import Measurement, MeasurementStore, StoreError, export_csv, import_csv
from hw_profiles.store import COLUMNS


def measurement(median):
    return Measurement(median_ms=median, iqr_ms=0.01, mean_ms=median * 1.01, cv=0.02, count=50, noisy=False,
                       retries=1)


@pytest.fixture
def two_stores(tmp_path):
    a, b = MeasurementStore(tmp_path / "a.db"), MeasurementStore(tmp_path / "b.db")
    a.put("fp-a", "vit-1", "c1", {"depth": 1, "block0.precision": "int8"}, measurement(0.2))
    a.put("fp-a", "vit-1", "c2", {"depth": 2}, measurement(0.3))
    b.put("fp-a", "vit-1", "c2", {"depth": 2}, measurement(9.9))  # b measured c2 first: b keeps its own
    b.put("fp-b", "vit-1", "c3", {"depth": 3}, measurement(0.4))
    yield a, b
    a.close()
    b.close()


def test_round_trip_merges_and_keeps_the_first_measurement(two_stores, tmp_path):
    a, b = two_stores
    assert export_csv(a, tmp_path / "a.csv") == 2
    assert import_csv(b, tmp_path / "a.csv") == (1, 1)
    assert b.count() == 3
    assert b.get("fp-a", "vit-1", "c1") == measurement(0.2)
    assert b.get("fp-a", "vit-1", "c2").median_ms == 9.9
    assert [row[:3] for row in b.rows("fp-a")] == [("fp-a", "vit-1", "c2"), ("fp-a", "vit-1", "c1")]
    assert b.records("fp-a", "vit-1")[1][1] == {"depth": 1, "block0.precision": "int8"}
    assert import_csv(b, tmp_path / "a.csv") == (0, 2)  # importing twice adds nothing
    assert export_csv(b, tmp_path / "b.csv", fingerprint="fp-b") == 1


@pytest.mark.parametrize("change,message", [
    (lambda rows: [rows[0][:-1]] + rows[1:], "the header must be"),
    (lambda rows: rows[:1] + [rows[1][:5]], "line 2: 5 values, expected 12"),
    (lambda rows: rows[:1] + [rows[1][:4] + ["fast"] + rows[1][5:]], "line 2: column 'median_ms' must be a finite number > 0, got 'fast'"),
    (lambda rows: rows[:1] + [rows[1][:3] + ["[1, 2]"] + rows[1][4:]], "line 2: column 'config_json' must be a JSON object"),
    (lambda rows: rows[:1] + [rows[1][:9] + ["2"] + rows[1][10:]], "line 2: column 'noisy' must be 0 or 1, got '2'"),
    (lambda rows: rows + [rows[1][:1] + [""] + rows[1][2:]], "line 4: column 'space' must be non-empty text"),
])
def test_a_bad_csv_is_refused_whole_with_the_line_and_column(two_stores, tmp_path, change, message):
    import csv

    a, b = two_stores
    export_csv(a, tmp_path / "a.csv")
    with open(tmp_path / "a.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS
    with open(tmp_path / "bad.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(change(rows))
    before = b.rows()
    with pytest.raises(StoreError, match=message):
        import_csv(b, tmp_path / "bad.csv")
    assert b.rows() == before  # nothing written


def test_cli_exports_and_imports_a_run_store(tmp_path):
    import json

    from search_spaces import create_space

    # The CLI checks each row against the run's space (issue #24): real configs of the space recorded in
    # run.json, as `hwnas profile --space vit` records it before training.
    space = create_space("vit")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"space": "vit", "space_arguments": space.arguments}))
    a = MeasurementStore(tmp_path / "a.db")
    for seed, median in ((0, 0.2), (1, 0.3)):
        config = space.sample(seed)
        a.put("fp-a", space.key, space.config_id(config), config, measurement(median))
    export_csv(a, tmp_path / "a.csv")
    a.close()
    cli = [sys.executable, "-m", "nas.cli", "measurements", "--run", str(run)]
    result = subprocess.run(cli + ["--import", str(tmp_path / "a.csv")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 measurements added" in result.stdout
    result = subprocess.run(cli + ["--export", str(tmp_path / "out.csv")], capture_output=True, text=True)
    assert result.returncode == 0 and (tmp_path / "out.csv").read_text() == (tmp_path / "a.csv").read_text()
    result = subprocess.run(cli + ["--import", str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("hwnas: error: measurements CSV")
    assert len(result.stderr.strip().splitlines()) == 1
