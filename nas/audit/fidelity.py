"""How well the supernet's inherited accuracies stand for stand-alone training: rank correlations, gaps in
points, the front's pairs, and what fine-tuning from the inherited weights changes. Pure arithmetic on the
audit's rows, so a reader can recompute every number from audit.json."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

TAU_TARGET = 0.7  # Kendall tau between inherited and stand-alone test accuracy (the [fidelity] issue's target)
FRONT_GAP_TARGET_POINTS = 1.0  # the front's mean |inherited - stand-alone| in points


def rank_correlations(first: list[float], second: list[float]) -> dict[str, float | None]:
    """Kendall tau (tau-b, ties allowed) and Spearman rho; None where undefined (fewer than two rows, or a
    column that is constant)."""
    from scipy.stats import kendalltau, spearmanr

    if len(first) < 2 or len(set(first)) < 2 or len(set(second)) < 2:
        return {"kendall_tau": None, "spearman": None}
    return {"kendall_tau": float(kendalltau(first, second).statistic),
            "spearman": float(spearmanr(first, second).statistic)}


def gaps(estimate: list[float], truth: list[float]) -> dict[str, float | None]:
    """The estimate minus the truth, in points (100 x accuracy): mean signed gap, mean and largest absolute."""
    if not estimate:
        return {"mean_gap_points": None, "mean_abs_gap_points": None, "largest_abs_gap_points": None}
    difference = 100.0 * (np.asarray(estimate, dtype=float) - np.asarray(truth, dtype=float))
    return {"mean_gap_points": float(difference.mean()), "mean_abs_gap_points": float(np.abs(difference).mean()),
            "largest_abs_gap_points": float(np.abs(difference).max())}


def same_order_share(first: list[float], second: list[float]) -> tuple[float | None, int]:
    """(share of pairs that the two columns order the same way, number of pairs); a pair tied in one column
    and not the other counts as ordered differently. None without a pair."""
    pairs = list(itertools.combinations(range(len(first)), 2))
    if not pairs:
        return None, 0
    same = sum(np.sign(first[i] - first[j]) == np.sign(second[i] - second[j]) for i, j in pairs)
    return float(same / len(pairs)), len(pairs)


def seed_spread_points(accuracies: list[float]) -> float | None:
    """The standard deviation (ddof 1) of one network's stand-alone accuracies over seeds, in points; None
    for a single training."""
    if len(accuracies) < 2:
        return None
    return float(np.std(100.0 * np.asarray(accuracies, dtype=float), ddof=1))


def standalone_noise(rows: list[dict]) -> dict[str, Any] | None:
    """How noisy the stand-alone truth is, from rows trained more than once (`standalone_test_accuracies`):
    the seeds' standard deviation in points, pooled over the networks, and the mean |gap| it alone would give
    a supernet without error. The truth is the mean of `repeats` trainings, off by N(0, sd^2 / repeats), whose
    mean absolute value is sd * sqrt(2 / pi) / sqrt(repeats). None when each network was trained once."""
    repeats = min((len(row.get("standalone_test_accuracies") or []) for row in rows), default=0)
    if repeats < 2:
        return None
    variances = [seed_spread_points(row["standalone_test_accuracies"]) ** 2 for row in rows]
    sd_points = math.sqrt(float(np.mean(variances)))
    return {"repeats": repeats, "sd_points": sd_points,
            "largest_sd_points": math.sqrt(max(variances)),
            "mean_abs_gap_floor_points": sd_points * math.sqrt(2.0 / math.pi) / math.sqrt(repeats)}


def summarize(rows: list[dict]) -> dict[str, Any]:
    """The audit's summary from its per-network rows (`inherited_test_accuracy`, `standalone_test_accuracy`,
    `on_front`, and `finetuned_test_accuracy` where fine-tuned)."""
    inherited = [row["inherited_test_accuracy"] for row in rows]
    standalone = [row["standalone_test_accuracy"] for row in rows]
    front = [row for row in rows if row["on_front"]]
    front_inherited = [row["inherited_test_accuracy"] for row in front]
    front_standalone = [row["standalone_test_accuracy"] for row in front]
    share, pairs = same_order_share(front_inherited, front_standalone)
    front_gaps = gaps(front_inherited, front_standalone)
    summary: dict[str, Any] = {
        "networks": len(rows), **rank_correlations(inherited, standalone), **gaps(inherited, standalone),
        "front": {"networks": len(front), "pairs": pairs, "same_order_share": share, **front_gaps},
        "standalone_noise": standalone_noise(rows),
    }
    tau, front_gap = summary["kendall_tau"], front_gaps["mean_abs_gap_points"]
    summary["targets"] = {
        "kendall_tau_at_least": TAU_TARGET, "kendall_tau_met": None if tau is None else tau >= TAU_TARGET,
        "front_mean_abs_gap_points_at_most": FRONT_GAP_TARGET_POINTS,
        "front_gap_met": None if front_gap is None else front_gap <= FRONT_GAP_TARGET_POINTS}
    tuned = [row for row in rows if row.get("finetuned_test_accuracy") is not None]
    if tuned:
        finetuned = [row["finetuned_test_accuracy"] for row in tuned]
        truth = [row["standalone_test_accuracy"] for row in tuned]
        before = gaps([row["inherited_test_accuracy"] for row in tuned], truth)["mean_abs_gap_points"]
        after = gaps(finetuned, truth)
        summary["finetuned"] = {"networks": len(tuned), **rank_correlations(finetuned, truth), **after,
                                "inherited_mean_abs_gap_points": before,
                                "closes_gap": after["mean_abs_gap_points"] < before}
    return summary
