"""Cut a small, fixed slice of the published NAS-Bench-201 tables into tests/data/, for the contract tests.

The full tables (15,625 rows each) live in ../shared/benchmarks/ and may not be copied into the repository;
the tests need a few hundred rows that are always there. The slice keeps, from both tables, the same
`arch_idx` rows, byte for byte as published:

* the `--top` most accurate cells (by `--accuracy-column`), so the slice has a real high-accuracy end;
* the true Pareto front of (accuracy up, `--latency-column` down) over the full table, so the slice's own
  front is a real one with many members and not one or two lucky rows;
* a seeded uniform sample of the other rows up to `--rows`, the spread a search wades through.

    python scripts/make_nb201_slice.py                      # the committed slice (300 rows, seed 0)
    python scripts/make_nb201_slice.py --rows 500 --out /tmp/slice
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / ".." / "shared" / "benchmarks"
ACCURACY_FILE, LATENCY_FILE = "nb201_accuracy.csv", "nb201_latency_ms.csv"
SLICE_ACCURACY_FILE, SLICE_LATENCY_FILE = "nb201_slice_accuracy.csv", "nb201_slice_latency_ms.csv"


def read_rows(path: Path) -> tuple[str, dict[int, str]]:
    """The header line and each data line (unchanged, newline stripped) by its `arch_idx`."""
    lines = path.read_text().splitlines()
    header, rows = lines[0], {}
    if header.split(",")[0] != "arch_idx":
        raise SystemExit(f"{path}: the first column must be arch_idx, got {header.split(',')[0]!r}")
    for line in lines[1:]:
        if line.strip():
            rows[int(line.split(",", 1)[0])] = line
    return header, rows


def column(header: str, rows: dict[int, str], name: str) -> dict[int, float]:
    """`name`'s value in each row. The arch_str column holds no commas (its separators are | ~ +), so a plain
    split finds the columns."""
    names = header.split(",")
    if name not in names:
        raise SystemExit(f"no column {name!r}; columns: {', '.join(names)}")
    index = names.index(name)
    return {arch: float(line.split(",")[index]) for arch, line in rows.items()}


def pareto_front(accuracy: dict[int, float], latency: dict[int, float]) -> list[int]:
    """The rows no other row beats on both accuracy (higher) and latency (lower)."""
    front, best = [], float("-inf")
    for arch in sorted(accuracy, key=lambda arch: (latency[arch], -accuracy[arch])):
        if accuracy[arch] > best:
            front.append(arch)
            best = accuracy[arch]
    return front


def choose(accuracy: dict[int, float], latency: dict[int, float], rows: int, top: int, seed: int) -> list[int]:
    """The arch_idx values of the slice, ascending."""
    most_accurate = sorted(accuracy, key=lambda arch: (-accuracy[arch], arch))[:top]
    chosen = set(most_accurate) | set(pareto_front(accuracy, latency))
    if len(chosen) > rows:
        raise SystemExit(f"--rows {rows} is fewer than the {len(chosen)} front and top rows the slice must hold")
    rest = sorted(set(accuracy) - chosen)
    chosen |= set(random.Random(seed).sample(rest, rows - len(chosen)))
    return sorted(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="folder of the full tables")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--top", type=int, default=30, help="the most accurate cells always kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accuracy-column", default="cifar10_test_acc")
    parser.add_argument("--latency-column", default="gold_6226")
    args = parser.parse_args()

    accuracy_header, accuracy_rows = read_rows(args.source / ACCURACY_FILE)
    latency_header, latency_rows = read_rows(args.source / LATENCY_FILE)
    if accuracy_rows.keys() != latency_rows.keys():
        raise SystemExit("the two tables do not hold the same arch_idx values")
    accuracy = column(accuracy_header, accuracy_rows, args.accuracy_column)
    latency = column(latency_header, latency_rows, args.latency_column)
    chosen = choose(accuracy, latency, args.rows, args.top, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, header, rows in ((SLICE_ACCURACY_FILE, accuracy_header, accuracy_rows),
                               (SLICE_LATENCY_FILE, latency_header, latency_rows)):
        (args.out / name).write_text("\n".join([header, *(rows[arch] for arch in chosen)]) + "\n")
    slice_front = pareto_front({a: accuracy[a] for a in chosen}, {a: latency[a] for a in chosen})
    print(f"wrote {len(chosen)} rows to {args.out / SLICE_ACCURACY_FILE} and {args.out / SLICE_LATENCY_FILE}; "
          f"their front ({args.accuracy_column} vs {args.latency_column}) has {len(slice_front)} networks")


if __name__ == "__main__":
    main()
