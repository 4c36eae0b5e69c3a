"""The predictor benchmark protocol: fit on N rows drawn with a seed, score on every other row.

One *column* is one device's latencies of the same networks (a column of a published table, or one
profile's measurements in a store). For each column, seed and train size, `evaluate_on_table` (the
same function as `hwnas predictor evaluate`) fits the predictor and scores it on the rest; the naive
baseline (gradient boosting on the one-hot config alone) is fitted on the same split. With
`prior_size`, the predictor is also fitted on that few rows with the *other* columns of the same
table as priors (never the target column itself): how well a new device is predicted from a handful
of measurements plus the devices already measured.

Each run also records `coverage`: the share of the scored rows inside their 90% interval (split-conformal,
calibrated by cross-validation on the training rows alone; predictors.intervals), and the interval's
median relative width. `summarise` takes medians over seeds per column, then over columns, and
`markdown` prints them.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np

from predictors.metrics import regression_quality
from predictors.priors import table_prior_for
from predictors.table import evaluate_on_table, split_rows

LOGGER = logging.getLogger(__name__)

METRICS = ("within_10pct", "kendall_tau", "spearman", "mape", "within_5pct")
COVERAGE = 0.9  # the interval whose held-out coverage each run records (`coverage`, beside its median width)


def one_hot_baseline(space: Any, configs: list, targets: np.ndarray, train: np.ndarray,
                     test: np.ndarray) -> dict[str, float]:
    """Gradient boosting (scikit-learn defaults) on the one-hot encoded config alone: the naive floor."""
    from sklearn.ensemble import GradientBoostingRegressor

    keys = list(space.choices)
    values = {key: list(space.choices[key].values) for key in keys}
    matrix = np.array([[float(config[key] == value) for key in keys for value in values[key]] for config in configs])
    model = GradientBoostingRegressor(random_state=0).fit(matrix[train], targets[train])
    return regression_quality(targets[test], model.predict(matrix[test]))


def run_column(space: Any, configs: list, matrix: np.ndarray, columns: Sequence[str], target: str,
               sizes: Sequence[int], prior_size: int, seeds: int, model: str, group: str,
               progress: bool = True) -> list[dict[str, Any]]:
    """Every run of one column: (size, seed) without priors, and (prior_size, seed) with the others."""
    targets = matrix[:, list(columns).index(target)]
    others = [column for column in columns if column != target]
    prior = None
    if prior_size and others:
        prior = table_prior_for(configs, matrix[:, [list(columns).index(c) for c in others]], others, space,
                                source=f"the other columns of {group}")
    settings = [(size, None) for size in sizes if size < len(configs)]
    if prior is not None and prior_size < len(configs):
        settings.append((prior_size, prior))
    runs = []
    for size, priors in settings:
        for seed in range(seeds):
            ours = evaluate_on_table(space, configs, targets, size, seed, model, priors, coverages=(COVERAGE,))
            percent = round(COVERAGE * 100)
            run = {"group": group, "column": target, "train_size": size, "priors": priors is not None, "seed": seed,
                   "model": model, "chosen_model": ours.get("chosen_model", model),
                   "fit_seconds": ours["fit_seconds"], "n_test": ours["n_test"],
                   **{f"ours_{metric}": ours[metric] for metric in METRICS},
                   "ours_coverage": ours.get(f"interval_coverage_{percent}", math.nan),
                   "ours_interval_width": ours.get(f"interval_width_{percent}", math.nan)}
            if priors is None:
                train, test = split_rows(len(configs), size, seed)
                baseline = one_hot_baseline(space, configs, targets, train, test)
                run.update({f"onehot_{metric}": baseline[metric] for metric in METRICS})
            runs.append(run)
            if progress:
                LOGGER.info(f"{group} {target} n={size}{'+priors' if priors is not None else ''} seed={seed}: "
                            f"within10 {ours['within_10pct']:.3f} tau {ours['kendall_tau']:.3f} "
                            f"rho {ours['spearman']:.3f} {percent}% interval covers {run['ours_coverage']:.3f} "
                            f"({ours['fit_seconds']:.1f} s)"
                            + (f", one-hot within10 {run['onehot_within_10pct']:.3f}" if priors is None else ""))
    return runs


CEILING_SHARE = 0.8  # the ceiling predictor is fitted on this share of the column


def column_ceiling(space: Any, configs: list, targets: np.ndarray, model: str, seed: int = 0) -> dict[str, float]:
    """The column's ceiling: `model` fitted on 80% of the column (drawn with `seed`), scored on the other 20%.
    What the features can learn of this device given (nearly) all of it; the rest is the column's noise."""
    size = int(CEILING_SHARE * len(configs))
    result = evaluate_on_table(space, configs, targets, size, seed, model)
    return {"train_size": size, **{metric: float(result[metric]) for metric in METRICS}}


def setting_name(size: int, priors: bool) -> str:
    return f"{size}+priors" if priors else str(size)


def summarise(runs: list[dict[str, Any]], groups: dict[str, list[str]],
              ceilings: dict[str, dict] | None = None) -> dict[str, Any]:
    """Per setting: per column the median over seeds, and per group (and over all columns) the median
    over columns; the columns below the one-hot baseline (within ±10%). With `ceilings` (by "group/column",
    from `column_ceiling`), each column's within ±10% is also reported as its share of the ceiling's."""
    ceilings = ceilings or {}
    settings = sorted({(run["train_size"], run["priors"]) for run in runs})
    summary: dict[str, Any] = {}
    for size, priors in settings:
        selected = [run for run in runs if run["train_size"] == size and run["priors"] == priors]
        keys = [key for key in selected[0] if key.startswith(("ours_", "onehot_"))]
        per_column = {}
        for group, columns in groups.items():
            for column in columns:
                mine = [run for run in selected if run["group"] == group and run["column"] == column]
                if mine:
                    name = f"{group}/{column}"
                    per_column[name] = {key: float(np.median([run[key] for run in mine])) for key in keys}
                    if name in ceilings:
                        per_column[name]["ceiling_within_10pct"] = ceilings[name]["within_10pct"]
                        per_column[name]["share_of_ceiling"] = (per_column[name]["ours_within_10pct"]
                                                                / ceilings[name]["within_10pct"])
        keys = keys + (["ceiling_within_10pct", "share_of_ceiling"] if ceilings else [])
        by_group = {group: _median_over(per_column, [f"{group}/{c}" for c in columns], keys)
                    for group, columns in groups.items()}
        by_group["all"] = _median_over(per_column, list(per_column), keys)
        worst = min(per_column, key=lambda name: per_column[name]["ours_within_10pct"]) if per_column else None
        summary[setting_name(size, priors)] = {
            "per_column": per_column, "median_over_columns": by_group,
            "worst_column_within_10pct": None if worst is None else
            {"column": worst, "within_10pct": per_column[worst]["ours_within_10pct"]},
            "columns_below_onehot_within_10pct": [] if priors else [
                column for column, values in per_column.items()
                if values["ours_within_10pct"] < values["onehot_within_10pct"]],
        }
    return summary


def _median_over(per_column: dict, names: list[str], keys: list[str]) -> dict[str, float]:
    present = [per_column[name] for name in names if name in per_column]
    return {key: float(np.median([values[key] for values in present if key in values])) for key in keys
            if any(key in values for values in present)} if present else {}


def markdown(summary: dict[str, Any], model: str) -> str:
    """Tables of the medians: one per setting, one row per column, then the medians over columns."""
    lines = []
    for setting, part in summary.items():
        priors = setting.endswith("+priors")
        lines += [f"\n### {setting} training rows (median over seeds; model `{model}`)\n",
                  f"| column | within ±10% | Kendall τ | Spearman | MAPE | {COVERAGE:.0%} interval coverage | "
                  f"its width |"
                  + ("" if priors else " one-hot within ±10% | one-hot τ |"),
                  "| --- | --- | --- | --- | --- | --- | --- |" + ("" if priors else " --- | --- |")]
        rows = [(name, values) for name, values in part["per_column"].items()]
        rows += [(f"**median {group}**", values) for group, values in part["median_over_columns"].items() if values]
        for name, values in rows:
            line = (f"| {name} | {values['ours_within_10pct']:.3f} | {values['ours_kendall_tau']:.3f} | "
                    f"{values['ours_spearman']:.3f} | {values['ours_mape']:.3f} | "
                    f"{values.get('ours_coverage', math.nan):.3f} | "
                    f"{values.get('ours_interval_width', math.nan):.3f} |")
            if not priors:
                line += f" {values['onehot_within_10pct']:.3f} | {values['onehot_kendall_tau']:.3f} |"
            lines.append(line)
        shares = {name: values["share_of_ceiling"] for name, values in part["per_column"].items()
                  if "share_of_ceiling" in values}
        if shares:
            lines.append("\nShare of each column's ceiling (within ±10% over that of the predictor fitted on 80% of "
                         "the column): " + ", ".join(f"{name} {share:.3f} (ceiling "
                                                     f"{part['per_column'][name]['ceiling_within_10pct']:.3f})"
                                                     for name, share in shares.items()))
        if part.get("worst_column_within_10pct"):
            worst = part["worst_column_within_10pct"]
            lines.append(f"\nWorst column (within ±10%): {worst['column']} {worst['within_10pct']:.3f}")
        if not priors:
            below = part["columns_below_onehot_within_10pct"]
            lines.append(f"\nColumns below the one-hot baseline (within ±10%): {', '.join(below) or 'none'}")
    return "\n".join(lines) + "\n"
