"""Issue #24 (6): an output path that cannot be written, a broken store row, or a failed rename ends in one
line on stderr and exit 2, and nothing is left half-written beside the target."""

import sqlite3

import pytest

from nas.cli import main
from nas.errors import HwnasError
from nas.run_folder import write_atomically


def one_line_error(capsys, argv):
    code = main(argv)
    error = capsys.readouterr().err
    assert code == 2, error
    assert error.startswith("hwnas: error: ") and error.count("\n") == 1, error
    return error


def test_a_run_trained_on_an_npz_file_can_be_profiled_and_searched(complete_run):
    run, _, _ = complete_run
    assert (run / "front.json").exists() and (run / "models" / "elastic.pt").exists()


def model_card(run):
    return next(path for path in (run / "models").glob("*.json") if path.name != "index.json")


@pytest.mark.parametrize("where", ["directory", "missing folder"])
def test_outputs_that_cannot_be_written_are_refused(run_copy, capsys, tmp_path, where):
    run, _, _ = run_copy
    folder = tmp_path / "a-folder"
    folder.mkdir()
    out = str(folder) if where == "directory" else str(tmp_path / "missing" / "x")
    verbs = [
        ["measurements", "--run", str(run), "--export", out],
        ["extract", "--run", str(run), "--config", str(model_card(run)), "--out", out],
        ["predictor", "predict", str(run / "predictor.joblib"), "--table", str(run / "trials.csv"), "--out", out],
        ["predictor", "fit", "--space", "nb201", "--table", "tests/data/nb201_slice_latency_ms.csv",
         "--target", "pixel2", "--out", out],
    ]
    for argv in verbs:
        error = one_line_error(capsys, argv)
        assert out in error and ("is a directory" in error or "does not exist" in error), error
    assert sorted(path.name for path in folder.iterdir()) == []


@pytest.mark.parametrize("column,value", [("median_ms", "fast"), ("config_json", "{not json"),
                                          ("config_json", "[1, 2]"), ("cv", float("inf")),
                                          ("count", 2.5)])
def test_a_broken_store_row_is_named_in_one_line(run_copy, capsys, column, value):
    run, _, _ = run_copy
    with sqlite3.connect(run / "measurements.db") as connection:
        connection.execute(f"UPDATE measurements SET {column} = ? WHERE rowid = 1", (value,))
    for argv in (["fit", "--run", str(run), "--quiet"], ["measurements", "--run", str(run), "--export",
                                                           str(run / "out.csv")]):
        error = one_line_error(capsys, argv)
        assert "measurements.db" in error and column in error, error
    assert not (run / "out.csv").exists()


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(HwnasError, match="cannot write"):
        write_atomically(target, "data")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["target"]
    assert (target / "inside").read_text() == "kept"
