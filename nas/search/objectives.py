"""What a search optimises: accuracy and latency, and optionally the deployable file's size.

`--objectives accuracy,latency` (the default) or `accuracy,latency,size`. Accuracy is maximised, latency
(ms) and size (MB of the deployed ONNX file, `nas.models.file_size`) minimised. Fronts with size are
non-dominated in all three; the `guided` sampler searches two objectives only and says so in one line.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.errors import HwnasError

DEFAULT = ("accuracy", "latency")
SUPPORTED = (DEFAULT, ("accuracy", "latency", "size"))
DIRECTIONS = {"accuracy": "maximize", "latency": "minimize", "size": "minimize"}
METRIC_NAMES = {"accuracy": "accuracy", "latency": "latency_ms", "size": "size_mb"}
TWO_OBJECTIVE_SAMPLERS = ("guided",)  # samplers that search (accuracy, latency) only


def objectives_argument(value: str | Sequence[str]) -> tuple[str, ...]:
    """The objectives from "accuracy,latency[,size]" (or a sequence); anything else is one line."""
    names = tuple(part.strip() for part in value.split(",")) if isinstance(value, str) else tuple(value)
    if names not in SUPPORTED:
        raise HwnasError(f"search field 'objectives' must be one of "
                         f"{', '.join(','.join(choice) for choice in SUPPORTED)}, got {','.join(map(str, names))!r}")
    return names


def check_sampler(objectives: tuple[str, ...], sampler: str) -> None:
    if len(objectives) > 2 and sampler in TWO_OBJECTIVE_SAMPLERS:
        raise HwnasError(f"the {sampler} sampler searches accuracy,latency only; for --objectives "
                         f"{','.join(objectives)} use --sampler nsga2, nsga3, tpe or random")


def pareto_mask_nd(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """True for the rows of `values` (points x objectives) that no other row dominates (at least as good
    in every objective, better in one); equal rows are all kept. O(n^2)."""
    signs = np.array([-1.0 if direction == "maximize" else 1.0 for direction in directions])
    costs = np.asarray(values, float).reshape(len(values), len(signs)) * signs
    mask = np.ones(len(costs), bool)
    for index, point in enumerate(costs):
        dominated = np.all(costs <= point, axis=1) & np.any(costs < point, axis=1)
        mask[index] = not dominated.any()
    return mask


def hypervolume_nd(values: np.ndarray, directions: Sequence[str], reference: Sequence[float]) -> float:
    """Volume dominated by the rows of `values` and bounded by `reference` (Optuna's exact algorithm)."""
    from optuna._hypervolume import compute_hypervolume

    signs = np.array([-1.0 if direction == "maximize" else 1.0 for direction in directions])
    costs = np.asarray(values, float).reshape(-1, len(signs)) * signs
    bound = np.asarray(reference, float) * signs
    inside = costs[np.all(costs < bound, axis=1)]
    return float(compute_hypervolume(inside, bound)) if len(inside) else 0.0
