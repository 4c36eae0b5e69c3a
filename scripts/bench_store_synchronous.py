"""Time `MeasurementStore.put` under SQLite's synchronous=FULL (what the store uses) and NORMAL (what it
used before issue #24): N puts each, into fresh stores in one folder, alternating rounds so a slow spell
of a shared disk hits both alike. Prints the median per-put time of each setting over the rounds.

    python scripts/bench_store_synchronous.py [--puts 500] [--rounds 3] [--folder DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hw_profiles import MeasurementStore  # noqa: E402
from hw_profiles.measurement import Measurement  # noqa: E402


def time_puts(path: Path, synchronous: str, puts: int) -> float:
    """Seconds per put of `puts` distinct keys into a fresh store at `path`."""
    measurement = Measurement.from_samples([0.10, 0.11, 0.12, 0.10, 0.11])
    with MeasurementStore(path) as store:
        store._connection.execute(f"PRAGMA synchronous={synchronous}")
        start = time.perf_counter()
        for index in range(puts):
            store.put("fingerprint", "vit", f"config-{index}", {"depth": index}, measurement)
        return (time.perf_counter() - start) / puts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None, help="where the stores go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        seconds: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
        for round_index in range(args.rounds):
            for setting in seconds:
                seconds[setting].append(time_puts(Path(folder) / f"{setting}-{round_index}.db", setting, args.puts))
    for setting, values in seconds.items():
        print(f"synchronous={setting}: {statistics.median(values) * 1e3:.3f} ms per put "
              f"(rounds: {', '.join(f'{value * 1e3:.3f}' for value in values)}; {args.puts} puts each)")


if __name__ == "__main__":
    main()
