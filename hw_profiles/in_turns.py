"""Several models timed in turns: fresh sessions taken model after model, round after round.

Comparing two models on a shared machine, all of one model's sessions and then all of the other's let a
slow spell land on one side only; in turns, a drift of the machine's speed hits both alike.
"""

from __future__ import annotations

from typing import Any, Mapping


def session_medians_in_turns(backend: Any, models: Mapping[str, Any], input_shape: Any,
                             sessions: int, reference: bytes | None = None) -> dict[str, list[float]]:
    """{name: the median ms of each of `sessions` `backend.measure` calls} for every model in `models`
    (what `backend.measure` takes: an ONNX path or a module), measured a, b, ..., a, b, ...; `reference`
    as `Backend.measure` takes it (e.g. `Profiler.reference`)."""
    medians: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(sessions):
        for name, model in models.items():
            medians[name].append(backend.measure(model, input_shape, reference=reference).median_ms)
    return medians
