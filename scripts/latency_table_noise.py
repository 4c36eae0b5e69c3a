"""How much of each published latency column a predictor of the architecture can explain at all.

For every column: the predictor fitted on many rows (`--train-size`, default 2,500) and scored on the
others (the large-data ceiling of the benchmark's 500-row numbers), and the lag-1 autocorrelation of
its held-out log residuals in the table's row order. The rows of the HELP tables are different
networks; a predictor that sees only the architecture leaves residuals that are independent from one
row to the next, unless the measurement conditions drifted while the table was recorded (clocks,
load, temperature): then neighbouring rows share their error, and no architecture feature can predict
it. Beside it, the correlation of the residuals of *architectural* neighbours, pairs of held-out
networks whose configs differ in one key only (NAS-Bench-201 has them; a random sample of the
once-for-all space has none): an error the architecture causes would be shared by them; and the
largest correlation with another column's residuals on the same networks (a similar device would share
an architectural error). Prints a markdown table and writes JSON.

    nice -n 10 .venv/bin/python scripts/latency_table_noise.py --output runs/latency_table_noise
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_predictors import TABLES, table_columns  # noqa: E402  (the same tables and columns)


def one_key_neighbour_correlation(space, configs: list, rows: np.ndarray, residual: np.ndarray) -> float | None:
    """Correlation of the residuals of held-out pairs whose configs differ in exactly one key (None
    when there are fewer than 100 such pairs)."""
    keys = list(space.choices)
    first, second = [], []
    for key in keys:
        groups: dict[tuple, list[int]] = {}
        for row in rows:
            groups.setdefault(tuple(configs[row][k] for k in keys if k != key), []).append(int(row))
        for members in groups.values():
            first += members[:-1]
            second += members[1:]
    if len(first) < 100:
        return None
    return float(np.corrcoef(residual[first], residual[second])[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="nb201,ofa_mbv3")
    parser.add_argument("--train-size", type=int, default=2500)
    parser.add_argument("--model", default="gbdt")
    parser.add_argument("--output", default="runs/latency_table_noise")
    args = parser.parse_args(argv)

    from predictors import create_predictor, regression_quality
    from predictors.encoding_cache import cached_encodings
    from predictors.table import read_columns, split_rows
    from search_spaces import create_space

    rows, residuals = [], {}
    with cached_encodings():
        for space_name in args.spaces.split(","):
            space = create_space(space_name)
            columns, path = table_columns(TABLES[space_name])
            configs, matrix = read_columns(path, space, columns)
            for index, column in enumerate(columns):
                targets = matrix[:, index]
                train, test = split_rows(len(configs), args.train_size, seed=0)
                model = create_predictor(args.model, space=space).fit([configs[i] for i in train], targets[train])
                predicted = model.predict([configs[i] for i in test])
                quality = regression_quality(targets[test], predicted)
                residual = np.full(len(configs), np.nan)
                residual[test] = np.log(targets[test] / predicted)
                pairs = ~np.isnan(residual[:-1]) & ~np.isnan(residual[1:])  # neighbouring held-out rows
                lag1 = float(np.corrcoef(residual[:-1][pairs], residual[1:][pairs])[0, 1])
                neighbours = one_key_neighbour_correlation(space, configs, test, residual)
                residuals[(space_name, column)] = residual
                rows.append({"table": space_name, "column": column, "train_size": args.train_size,
                             "within_10pct": quality["within_10pct"], "kendall_tau": quality["kendall_tau"],
                             "spearman": quality["spearman"], "residual_lag1_autocorrelation": lag1,
                             "residual_correlation_one_key_neighbours": neighbours})
                print(f"{space_name} {column}: within10 {quality['within_10pct']:.3f} tau {quality['kendall_tau']:.3f} "
                      f"lag-1 {lag1:.2f} neighbours {neighbours}", file=sys.stderr, flush=True)
    for row in rows:  # the other column (same table, same held-out networks) whose residual is most alike
        mine = residuals[(row["table"], row["column"])]
        others = {name: float(np.corrcoef(mine[~np.isnan(mine)], theirs[~np.isnan(mine)])[0, 1])
                  for (table, name), theirs in residuals.items() if table == row["table"] and name != row["column"]}
        best = max(others, key=others.get)
        row["most_correlated_other_column"], row["its_residual_correlation"] = best, others[best]
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "latency_table_noise.json").write_text(json.dumps(rows, indent=1))
    print(f"| table | column | within ±10% ({args.train_size} rows) | Kendall τ | residual correlation: next row "
          f"| one-key neighbours | most alike other column |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        neighbours = row["residual_correlation_one_key_neighbours"]
        print(f"| {row['table']} | {row['column']} | {row['within_10pct']:.3f} | {row['kendall_tau']:.3f} | "
              f"{row['residual_lag1_autocorrelation']:.2f} | {'n/a' if neighbours is None else f'{neighbours:.2f}'} | "
              f"{row['most_correlated_other_column']} {row['its_residual_correlation']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
