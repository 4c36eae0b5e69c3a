"""Measurements to and from CSV, so that stores of several machines can be merged.

The CSV has one header row with the store's columns (``hw_profiles.store.COLUMNS``) and one row per
measurement. Import checks every row before it writes anything, then adds the rows whose key the store
does not hold yet (a key's first measurement wins, as for ``put``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Callable

from hw_profiles.durable_files import write_durably
from hw_profiles.errors import StoreError
from hw_profiles.store import COLUMNS, MeasurementStore

_TEXT = ("fingerprint", "space", "config_id", "created_at")
_POSITIVE = ("median_ms",)
_NON_NEGATIVE = ("iqr_ms", "mean_ms", "cv")
_INTEGER = ("count", "noisy", "retries")


def export_csv(store: MeasurementStore, path: str | Path, fingerprint: str | None = None,
               space: str | None = None) -> int:
    """Write the store's measurements (optionally of one fingerprint / space) to `path`; return how many."""
    rows = store.rows(fingerprint, space)
    path = Path(path)

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)

    try:  # atomic and durable: the folder is fsynced after the rename
        write_durably(path, write, "w", newline="", encoding="utf-8")
    except OSError as error:
        raise StoreError(f"measurements CSV '{path}': cannot write: {error.strerror or error}") from None
    return len(rows)


# check_row(space, config_id, config) -> (config_id, config) as they are to be stored; raises ValueError
# (one line) for a row that must not be stored. hw_profiles knows no spaces: the caller (nas) supplies it.
RowCheck = Callable[[str, str, dict], tuple[str, dict]]


def import_csv(store: MeasurementStore, path: str | Path, check_row: RowCheck | None = None) -> tuple[int, int]:
    """Add the measurements of the CSV file `path`; return (added, already in the store). With `check_row`,
    every row's config is validated and its id recomputed before anything is written."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != COLUMNS:
                raise StoreError(f"measurements CSV '{path}': the header must be {','.join(COLUMNS)}, got "
                                 f"{','.join(header) if header else 'nothing'}")
            rows = [_checked(row, path, line, check_row) for line, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise StoreError(f"measurements CSV '{path}': cannot read: {error}") from None
    added = store.add_rows(rows)
    return added, len(rows) - added


def _checked(row: list[str], path: Path, line: int, check_row: RowCheck | None = None) -> tuple:
    def bad(column: str, what: str) -> StoreError:
        return StoreError(f"measurements CSV '{path}' line {line}: column '{column}' must be {what}, "
                          f"got {values.get(column)!r}")

    if len(row) != len(COLUMNS):
        raise StoreError(f"measurements CSV '{path}' line {line}: {len(row)} values, expected {len(COLUMNS)}")
    values = dict(zip(COLUMNS, row))
    checked = {}
    for column in _TEXT:
        if not values[column].strip():
            raise bad(column, "non-empty text")
        checked[column] = values[column]
    try:
        config = json.loads(values["config_json"])
    except json.JSONDecodeError:
        config = None
    if not isinstance(config, dict):
        raise bad("config_json", "a JSON object")
    if check_row is not None:
        try:
            config_id, config = check_row(checked["space"], checked["config_id"], config)
        except ValueError as error:
            raise StoreError(f"measurements CSV '{path}' line {line}: {error}") from None
        checked["config_id"] = config_id
    checked["config_json"] = json.dumps(config, sort_keys=True)
    for column in _POSITIVE + _NON_NEGATIVE:
        try:
            number = float(values[column])
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (column in _POSITIVE and number == 0):
            raise bad(column, "a finite number > 0" if column in _POSITIVE else "a finite number >= 0")
        checked[column] = number
    for column in _INTEGER:
        try:
            number = int(values[column])
        except ValueError:
            raise bad(column, "an integer >= 0") from None
        if number < 0 or (column == "noisy" and number > 1):
            raise bad(column, "0 or 1" if column == "noisy" else "an integer >= 0")
        checked[column] = number
    return tuple(checked[column] for column in COLUMNS)
