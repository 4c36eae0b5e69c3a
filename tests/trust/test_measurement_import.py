"""Issue #24 (5): `hwnas measurements --import` recomputes each row's config_id from its config, validated
against the run's space, and refuses the whole file when a row disagrees; nothing is added."""

import csv
import json
import sqlite3

import pytest

from nas.cli import main


def exported_rows(run, capsys):
    assert main(["measurements", "--run", str(run), "--export", str(run / "all.csv"), "--quiet"]) == 0
    capsys.readouterr()
    with open(run / "all.csv", newline="") as handle:
        return list(csv.reader(handle))


def stored_rows(run):
    with sqlite3.connect(run / "measurements.db") as connection:
        return connection.execute("SELECT * FROM measurements ORDER BY rowid").fetchall()


def import_refused(run, rows, capsys, message):
    with open(run / "bad.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    before = stored_rows(run)
    code = main(["measurements", "--run", str(run), "--import", str(run / "bad.csv"), "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "line 2" in error and message in error, error
    assert stored_rows(run) == before


def test_a_row_whose_id_is_not_its_config_is_refused(run_copy, capsys):
    run, _, _ = run_copy
    header, first, second = exported_rows(run, capsys)[:3]
    forged = [*first[:2], second[2], *first[3:]]  # another network's id on this config, 0.0001 ms
    forged[4] = "0.0001"
    with sqlite3.connect(run / "measurements.db") as connection:
        connection.execute("DELETE FROM measurements WHERE config_id = ?", (second[2],))
    import_refused(run, [header, forged], capsys, f"config_id '{second[2]}' is not the id of its config")


def test_a_config_the_space_does_not_allow_is_refused(run_copy, capsys):
    run, _, _ = run_copy
    header, first = exported_rows(run, capsys)[:2]
    config = json.loads(first[3])
    config["depth"] = 99
    import_refused(run, [header, [*first[:3], json.dumps(config), *first[4:]]], capsys, "depth")


def test_a_row_of_another_space_is_refused(run_copy, capsys):
    run, _, _ = run_copy
    header, first = exported_rows(run, capsys)[:2]
    import_refused(run, [header, [first[0], "vit-00000000", *first[2:]]], capsys, "is not this run's space")


def test_honest_rows_are_imported(run_copy, capsys):
    run, _, _ = run_copy
    rows = exported_rows(run, capsys)
    (run / "measurements.db").unlink()
    assert main(["measurements", "--run", str(run), "--import", str(run / "all.csv"), "--quiet"]) == 0
    assert f"{len(rows) - 1} measurements added" in capsys.readouterr().out
