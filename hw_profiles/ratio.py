"""The ratio estimator of the interleaved protocol: a candidate's latency relative to a fixed reference
network timed run for run beside it.

On a shared CPU the core's speed drifts by tens of percent over seconds. Drift slows the candidate and the
reference alike, so their ratio holds still where either median moves. The runs are grouped into short
windows of consecutive pairs; each window gives the ratio of its two medians (a median rejects the odd
preempted run); the estimate is the median of the window ratios, with a distribution-free confidence
interval from order statistics (the binomial interval of a median), so the protocol can stop as soon as
the interval is narrow enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95  # of the interval around the median window ratio
MIN_WINDOWS = 6  # fewer windows give no 95% interval for a median (0.5^5 * 2 > 0.05)


@dataclass(frozen=True)
class RatioEstimate:
    """Candidate / reference: the median window ratio and its confidence interval."""

    ratio: float
    low: float  # interval bounds (CONFIDENCE) on the median window ratio
    high: float
    windows: int
    candidate_ms: float  # median of the candidate's window medians (raw, drifting with the machine)
    reference_ms: float  # median of the reference's window medians, from the same windows

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the ratio (inf without an interval)."""
        if not math.isfinite(self.low) or not math.isfinite(self.high) or self.ratio <= 0:
            return math.inf
        return (self.high - self.low) / 2 / self.ratio


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A distribution-free interval on the median of `values`: the order statistics (j, n + 1 - j) with
    the largest j whose binomial coverage is at least `confidence`; (-inf, inf) if n is too small."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    count = len(ordered)
    best = None
    for j in range(1, count // 2 + 1):  # coverage of [x_(j), x_(n+1-j)] = 1 - 2 P(Binomial(n, 1/2) < j)
        tail = sum(math.comb(count, i) for i in range(j)) / 2.0**count
        if 1 - 2 * tail >= confidence:
            best = j
        else:
            break
    if best is None:
        return -math.inf, math.inf
    return float(ordered[best - 1]), float(ordered[count - best])


def window_medians(samples: Sequence[float], window: int) -> np.ndarray:
    """Medians of consecutive, complete windows of `window` samples."""
    complete = len(samples) // window * window
    if complete == 0:
        return np.empty(0)
    return np.median(np.asarray(samples[:complete], dtype=np.float64).reshape(-1, window), axis=1)


def estimate_ratio(candidate_ms: Sequence[float], reference_ms: Sequence[float], window: int) -> RatioEstimate:
    """The ratio estimate from paired runs (candidate_ms[i] timed next to reference_ms[i])."""
    if len(candidate_ms) != len(reference_ms):
        raise ValueError(f"paired runs needed: {len(candidate_ms)} candidate vs {len(reference_ms)} reference runs")
    if window < 1:
        raise ValueError(f"window must be at least 1 pair, got {window}")
    candidate, reference = window_medians(candidate_ms, window), window_medians(reference_ms, window)
    if candidate.size == 0:
        raise ValueError(f"no complete window of {window} pairs in {len(candidate_ms)} runs")
    if np.any(reference <= 0):
        raise ValueError("reference window medians must be positive")
    ratios = candidate / reference
    low, high = median_interval(ratios) if ratios.size >= MIN_WINDOWS else (-math.inf, math.inf)
    return RatioEstimate(ratio=float(np.median(ratios)), low=low, high=high, windows=int(ratios.size),
                         candidate_ms=float(np.median(candidate)), reference_ms=float(np.median(reference)))
