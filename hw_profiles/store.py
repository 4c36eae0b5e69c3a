"""MeasurementStore: a durable SQLite table of measurements keyed by (fingerprint, space, config_id).

Each key is stored once: ``put`` is INSERT OR IGNORE, so the first finished measurement of a key wins
and a second ``put`` (say, by a worker that raced another) changes nothing. Every ``put`` commits at
once, so a killed worker loses nothing it finished. WAL mode and a 30 s busy timeout let several
processes read and write one file.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hw_profiles.errors import StoreError
from hw_profiles.measurement import Measurement, machine_speed

SCHEMA_VERSION = 1  # kept in PRAGMA user_version
TABLE = "measurements"
COLUMNS = (
    "fingerprint", "space", "config_id", "config_json", "median_ms", "iqr_ms", "mean_ms", "cv",
    "count", "noisy", "retries", "created_at",
)
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    fingerprint TEXT NOT NULL,   -- HardwareProfile.fingerprint()
    space       TEXT NOT NULL,   -- search space name
    config_id   TEXT NOT NULL,   -- the space's stable id of the canonical config
    config_json TEXT NOT NULL,   -- the config itself, JSON with sorted keys
    median_ms   REAL NOT NULL,
    iqr_ms      REAL NOT NULL,
    mean_ms     REAL NOT NULL,
    cv          REAL NOT NULL,
    count       INTEGER NOT NULL,
    noisy       INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,   -- UTC, ISO 8601
    PRIMARY KEY (fingerprint, space, config_id)
)"""
MEASUREMENT_COLUMNS = "median_ms, iqr_ms, mean_ms, cv, count, noisy, retries"
# The interleaved protocol's drift log: the reference network's latency beside every timing (stored
# measurements and re-timings alike), so a report can show how busy the machine was over a run.
REFERENCE_TABLE = "reference_timings"
CREATE_REFERENCE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {REFERENCE_TABLE} (
    fingerprint  TEXT NOT NULL,
    space        TEXT NOT NULL,
    key          TEXT NOT NULL,   -- the config_id (or the file) timed beside the reference
    created_at   TEXT NOT NULL,   -- UTC, ISO 8601
    reference_ms REAL NOT NULL,   -- the machine-speed probe (Measurement.probe_ms; in stores made before it,
    baseline_ms  REAL NOT NULL,   -- the reference between candidate runs) and its long-run value there
    ratio        REAL NOT NULL,   -- candidate / reference
    half_width   REAL NOT NULL    -- of the ratio's 95% interval, relative
)"""


class MeasurementStore:
    """Measurements in one SQLite file; one connection per store object. Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, so every write is committed when it returns.
            self._connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"measurement store '{self.path}': cannot open: {error}") from None
        try:
            self._connection.execute("PRAGMA journal_mode=WAL")
            # FULL: WAL is synced at every commit, so a measurement is on disk when `put` returns (NORMAL
            # could roll the last commits back after a power loss); docs/guide/reliability.md has the cost.
            self._connection.execute("PRAGMA synchronous=FULL")
            self._create_or_check_schema()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as error:  # a damaged schema's text does not decode
            self._connection.close()
            raise StoreError(f"measurement store '{self.path}': not a usable SQLite database: {error}") from None
        except StoreError:
            self._connection.close()
            raise

    def _create_or_check_schema(self) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")  # one process creates the table; the others wait, then check
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            if version == 0 and not tables:
                connection.execute(CREATE_TABLE)
                connection.execute(CREATE_REFERENCE_TABLE)
                connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise StoreError(
                    f"measurement store '{self.path}': not a measurement store (schema version {version}, "
                    f"tables {tables}); expected schema version {SCHEMA_VERSION}"
                )
            else:
                columns = tuple(row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})"))
                if columns != COLUMNS:
                    raise StoreError(
                        f"measurement store '{self.path}': table '{TABLE}' has columns {list(columns)}; "
                        f"expected {list(COLUMNS)}"
                    )
                connection.execute(CREATE_REFERENCE_TABLE)  # stores made before the drift log get one
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def put(self, fingerprint: str, space: str, config_id: str, config: dict[str, Any], measurement: Measurement) -> bool:
        """Store a measurement unless the key already has one; True when this call stored it."""
        try:
            config_json = json.dumps(config, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise StoreError(f"measurement store '{self.path}': config {config_id!r} is not JSON-serialisable: {error}") from None
        cursor = self._connection.execute(
            f"INSERT OR IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (
                fingerprint, space, config_id, config_json,
                measurement.median_ms, measurement.iqr_ms, measurement.mean_ms, measurement.cv,
                measurement.count, int(measurement.noisy), measurement.retries,
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )
        self.log_reference(fingerprint, space, config_id, measurement)
        return cursor.rowcount == 1

    def log_reference(self, fingerprint: str, space: str, key: str, measurement: Measurement) -> None:
        """Append the reference's timing of an interleaved measurement to the drift log (no-op otherwise)."""
        if measurement.reference_ms is None or measurement.reference_baseline_ms is None:
            return
        speed = machine_speed(measurement)
        half_width = measurement.ratio_half_width if measurement.ratio_half_width is not None else float("nan")
        self._connection.execute(
            f"INSERT INTO {REFERENCE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (fingerprint, space, key, datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
             speed[0], speed[1], measurement.ratio,
             half_width if half_width == half_width and half_width != float("inf") else -1.0))

    def reference_log(self, fingerprint: str | None = None) -> list[dict[str, Any]]:
        """The drift log in time order: created_at, key, reference_ms, baseline_ms, ratio, half_width."""
        where, parameters = _where(fingerprint, None)
        rows = self._connection.execute(
            f"SELECT created_at, key, reference_ms, baseline_ms, ratio, half_width FROM {REFERENCE_TABLE}{where} "
            "ORDER BY rowid", parameters).fetchall()
        names = ("created_at", "key", "reference_ms", "baseline_ms", "ratio", "half_width")
        return [dict(zip(names, row)) for row in rows]

    def get(self, fingerprint: str, space: str, config_id: str) -> Measurement | None:
        """The stored measurement of this key, or None."""
        row = self._connection.execute(
            f"SELECT {MEASUREMENT_COLUMNS} FROM {TABLE} WHERE fingerprint=? AND space=? AND config_id=?",
            (fingerprint, space, config_id),
        ).fetchone()
        return None if row is None else _measurement(row)

    def has(self, fingerprint: str, space: str, config_id: str) -> bool:
        """Whether this key has a measurement."""
        row = self._connection.execute(
            f"SELECT 1 FROM {TABLE} WHERE fingerprint=? AND space=? AND config_id=?",
            (fingerprint, space, config_id),
        ).fetchone()
        return row is not None

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        return self.has(*key)

    def records(self, fingerprint: str, space: str) -> list[tuple[str, dict[str, Any], Measurement]]:
        """``(config_id, config, measurement)`` of one profile and space, in insertion order."""
        rows = self.rows(fingerprint, space)
        return [(row[2], json.loads(row[3]), _measurement(row[4:11])) for row in rows]

    def count(self, fingerprint: str | None = None, space: str | None = None) -> int:
        """Number of measurements, optionally only of one fingerprint and/or space."""
        where, parameters = _where(fingerprint, space)
        return self._connection.execute(f"SELECT COUNT(*) FROM {TABLE}{where}", parameters).fetchone()[0]

    def rows(self, fingerprint: str | None = None, space: str | None = None) -> list[tuple]:
        """Whole rows (values in COLUMNS order) in insertion order, optionally of one fingerprint / space."""
        where, parameters = _where(fingerprint, space)
        try:
            rows = self._connection.execute(f"SELECT rowid, {', '.join(COLUMNS)} FROM {TABLE}{where} ORDER BY rowid",
                                            parameters).fetchall()
        except (sqlite3.Error, UnicodeDecodeError) as error:  # a damaged file: undecodable text, a broken page
            raise StoreError(f"measurement store '{self.path}': cannot read its rows: {error}") from None
        return [self._checked(row[1:], row[0]) for row in rows]

    def _checked(self, row: tuple, rowid: int) -> tuple:
        """A stored row as read, if every value has its column's type and range; StoreError naming the row and
        the column otherwise (SQLite keeps whatever another program wrote, e.g. text in a REAL column)."""
        for column, value in zip(COLUMNS, row):
            allowed = _stored_value_problem(column, value)
            if allowed:
                raise StoreError(f"measurement store '{self.path}': row {rowid}, column '{column}' must be "
                                 f"{allowed}, got {str(value)[:60]!r}")
        return row

    def add_rows(self, rows: list[tuple]) -> int:
        """Insert whole rows (values in COLUMNS order) in one transaction, keeping each key's first
        measurement; return how many were new."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.total_changes
            connection.executemany(
                f"INSERT OR IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
            added = connection.total_changes - before
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return added

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self._connection.close()

    def __enter__(self) -> MeasurementStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MeasurementStore({str(self.path)!r})"


def _where(fingerprint: str | None, space: str | None) -> tuple[str, list[str]]:
    """A WHERE clause (or "") and its parameters selecting one fingerprint and/or space."""
    conditions, parameters = [], []
    for column, value in (("fingerprint", fingerprint), ("space", space)):
        if value is not None:
            conditions.append(f"{column}=?")
            parameters.append(value)
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), parameters


def _stored_value_problem(column: str, value: Any) -> str:
    """What `column` allows, when `value` is not allowed there; "" when it is."""
    if column in ("fingerprint", "space", "config_id", "created_at"):
        return "" if isinstance(value, str) and value.strip() else "non-empty text"
    if column == "config_json":
        try:
            return "" if isinstance(value, str) and isinstance(json.loads(value), dict) else "a JSON object"
        except (json.JSONDecodeError, RecursionError):
            return "a JSON object"
    if column in ("count", "noisy", "retries"):
        if not isinstance(value, int) or value < 0 or (column == "noisy" and value > 1):
            return "0 or 1" if column == "noisy" else "an integer >= 0"
        return ""
    number_ok = isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
    if column == "median_ms":
        return "" if number_ok and value > 0 else "a finite number > 0"
    return "" if number_ok else "a finite number >= 0"


def _measurement(row: tuple) -> Measurement:
    median_ms, iqr_ms, mean_ms, cv, count, noisy, retries = row
    return Measurement(
        median_ms=median_ms, iqr_ms=iqr_ms, mean_ms=mean_ms, cv=cv, count=count, noisy=bool(noisy), retries=retries
    )
