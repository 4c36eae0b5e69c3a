"""Which sub-networks an audit trains: the run's measured front first, then networks spread over the space
by their costs (the `diverse` profiling strategy: farthest-point selection in cost features and choices,
starting from the largest and the smallest network), `count` distinct networks in all, reproducible from
the seed."""

from __future__ import annotations

import itertools
import math
from typing import Any

from nas.errors import HwnasError
from nas.profiling.strategies import STRATEGIES

MAX_SUBNETS = 1000  # each audited network is a full training: more is a typo, not a plan
ENUMERATION_LIMIT = 20_000  # spaces with at most this many raw choice combinations are counted exactly


def distinct_networks(space: Any) -> int | None:
    """How many distinct networks (config ids) `space` holds, counted over every combination of its
    choices; None when the space has more than ENUMERATION_LIMIT combinations (it is then not counted)."""
    values = [choice.values for choice in space.choices.values()]
    if math.prod(len(options) for options in values) > ENUMERATION_LIMIT:
        return None
    keys = list(space.choices)
    return len({space.config_id(dict(zip(keys, combination))) for combination in itertools.product(*values)})


def check_count(count: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or not 2 <= count <= MAX_SUBNETS:
        raise HwnasError(f"--subnets must be an integer from 2 to {MAX_SUBNETS} (each network is trained from "
                         f"scratch; a rank correlation needs two), got {count!r}")


def select_networks(space: Any, front: list[dict], count: int, seed: int) -> list[dict]:
    """`count` networks as {"config", "config_id", "on_front", "front_latency_ms"}: the front's networks
    (fastest first; when the front holds more than `count`, `count` of them evenly spaced along it), then
    networks spread over the space by cost. A space with fewer than `count` networks is refused."""
    check_count(count)
    size = distinct_networks(space)
    if size is not None and count > size:
        raise HwnasError(f"--subnets {count}: the space {space.name!r} of this run holds only {size} distinct "
                         f"networks; ask for at most {size}")
    chosen: dict[str, dict] = {}
    on_front = _unique(space, sorted(front, key=lambda entry: entry.get("latency_ms", 0.0)))
    if len(on_front) > count:
        step = (len(on_front) - 1) / (count - 1)
        on_front = [on_front[round(index * step)] for index in range(count)]
    for entry in on_front:
        config = space.canonical(entry["config"])
        chosen[space.config_id(config)] = {"config": config, "on_front": True,
                                           "front_latency_ms": entry.get("latency_ms")}
    wanted = count - len(chosen)
    if wanted:
        for config in STRATEGIES.get("diverse")(space, count + len(chosen), seed):
            if len(chosen) == count:
                break
            chosen.setdefault(space.config_id(config), {"config": config, "on_front": False,
                                                        "front_latency_ms": None})
    if len(chosen) < count:
        raise HwnasError(f"--subnets {count}: only {len(chosen)} distinct networks of the space {space.name!r} "
                         f"were found; ask for at most {len(chosen)}")
    return [{"config_id": config_id, **entry} for config_id, entry in chosen.items()]


def _unique(space: Any, entries: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for entry in entries:
        seen.setdefault(space.config_id(entry["config"]), entry)
    return list(seen.values())
