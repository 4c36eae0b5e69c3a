"""One latency measurement of one model on one device, summarised as a distribution."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

import numpy as np

# Scales the median absolute deviation to the standard deviation of a normal distribution.
MAD_TO_STD = 1.4826
OPTIONAL_FLOATS = ("ratio", "ratio_half_width", "raw_median_ms", "reference_ms", "reference_baseline_ms", "probe_ms",
                   "probe_baseline_ms")


@dataclass(frozen=True)
class Measurement:
    """Summary of the timed runs of one model (all times in milliseconds).

    ``cv`` is the robust coefficient of variation, ``1.4826 * MAD / median``: like std/mean for
    normal noise, but a few outliers (a context switch, a page fault) barely move it.
    """

    median_ms: float  # median of the timed runs: the latency we report
    iqr_ms: float  # 75th minus 25th percentile of the timed runs
    mean_ms: float  # arithmetic mean, for reference (outliers pull it up)
    cv: float  # robust coefficient of variation, 1.4826 * MAD / median
    count: int  # number of timed runs summarised
    noisy: bool = False  # cv stayed above the profile's max_cv after every retry
    retries: int = 0  # how many times the timed runs were repeated because cv was too high
    # The interleaved protocol (hw_profiles.ratio): median_ms = ratio x reference_baseline_ms.
    protocol: str = "plain"  # "plain" or "interleaved"
    ratio: float | None = None  # candidate / reference, the median of the window ratios
    ratio_half_width: float | None = None  # half the ratio's 95% interval, relative to the ratio
    raw_median_ms: float | None = None  # the candidate's own median in these windows (drifts with the core)
    reference_ms: float | None = None  # the reference's median in the same windows (slowed by the candidate too)
    reference_baseline_ms: float | None = None  # the reference's long-run latency on this machine
    # The machine's speed, whatever the candidate: the reference timed back to back right after the windows
    # (its weights warm in the caches), and the same timing's long-run value on this machine. The reference
    # *between* candidate runs is slowed by how much of the cache each candidate evicts, so only this probe
    # says whether the machine is busy.
    probe_ms: float | None = None
    probe_baseline_ms: float | None = None

    @classmethod
    def from_samples(cls, samples_ms: Iterable[float], noisy: bool = False, retries: int = 0) -> Measurement:
        """Summarise per-run times in milliseconds (at least one, all finite and non-negative)."""
        samples = np.asarray(list(samples_ms), dtype=np.float64)
        if samples.size == 0:
            raise ValueError("a measurement needs at least one sample, got none")
        if not np.all(np.isfinite(samples)) or np.any(samples < 0):
            raise ValueError("measurement samples must be finite, non-negative milliseconds")
        median = float(np.median(samples))
        q25, q75 = np.percentile(samples, [25, 75])
        mad = float(np.median(np.abs(samples - median)))
        if median > 0:
            cv = MAD_TO_STD * mad / median
        else:
            cv = 0.0 if mad == 0 else math.inf
        return cls(
            median_ms=median,
            iqr_ms=float(q75 - q25),
            mean_ms=float(np.mean(samples)),
            cv=float(cv),
            count=int(samples.size),
            noisy=bool(noisy),
            retries=int(retries),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ValueError."""
        names = [field.name for field in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"measurement: unknown key(s) {unknown}; allowed: {names}")
        missing = [name for name in ("median_ms", "iqr_ms", "mean_ms", "cv", "count") if name not in data]
        if missing:
            raise ValueError(f"measurement: missing key(s) {missing}")
        return cls(
            median_ms=float(data["median_ms"]),
            iqr_ms=float(data["iqr_ms"]),
            mean_ms=float(data["mean_ms"]),
            cv=float(data["cv"]),
            count=int(data["count"]),
            noisy=bool(data.get("noisy", False)),
            retries=int(data.get("retries", 0)),
            protocol=str(data.get("protocol", "plain")),
            **{name: None if data.get(name) is None else float(data[name]) for name in OPTIONAL_FLOATS},
        )


def machine_speed(measurement: Measurement) -> tuple[float, float] | tuple[None, None]:
    """(the reference's latency now, its quiet baseline) in ms, from the probe where the measurement has one
    (measurements made before the probe: the reference between candidate runs); (None, None) for the plain
    protocol. Their ratio says how much slower than usual the machine runs."""
    if measurement.probe_ms is not None and measurement.probe_baseline_ms:
        return measurement.probe_ms, measurement.probe_baseline_ms
    if measurement.reference_ms is not None and measurement.reference_baseline_ms:
        return measurement.reference_ms, measurement.reference_baseline_ms
    return None, None
