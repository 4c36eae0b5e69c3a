"""Files a person reads: trials.csv, pareto.csv, pareto.png."""

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


def plot_pareto(path: Path, measured: list[dict], front: list[dict], title: str) -> None:
    """Validation accuracy against measured latency; the front highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    axes.scatter([m["latency_ms"] for m in measured], [m["val_accuracy"] for m in measured], s=18,
                 color="0.6", label="measured candidates")
    axes.plot([m["latency_ms"] for m in front], [m["val_accuracy"] for m in front], "o-", color="tab:red",
              label="Pareto front (measured)")
    axes.set_xlabel("measured latency (ms, median)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomically(Path(path), buffer.getvalue())
