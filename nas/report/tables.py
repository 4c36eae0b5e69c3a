"""Tables a person reads: trials.csv and pareto.csv (a trial per row, its config spread into columns)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from nas.run_folder import write_atomically


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                         for key, value in row.items()})
    write_atomically(Path(path), buffer.getvalue())


def flatten(entry: dict) -> dict:
    """A trial dict with its config spread into one column per key."""
    flat = {key: value for key, value in entry.items() if key != "config"}
    flat.update(entry.get("config", {}))
    return flat
