"""How many distinct networks a space holds (`SearchSpace.size()`), counted without listing them.

A network is a canonical config (one `config_id`). Some choices switch others off (a depth leaves the
blocks beyond it inactive, and `canonical` fixes their values); some values collapse (`mbv3` maps
resolutions that give the same input side to one). The count works from the space's own `inactive_keys`
and `canonical`, so a new space is counted right without code of its own:

* a *deciding* key is one whose value changes which keys are inactive, starting from the largest network
  (where every key is active); the keys it can switch off are the keys it *governs*;
* a key's *distinct values* are those `canonical` keeps apart;
* where no key is governed by two deciding keys (and no deciding key by another), the count is a product:
  each free key's distinct values, times, per deciding key, the sum over its values of the product of
  the distinct values of the keys it leaves active. Otherwise the deciding keys' values are enumerated.

The space contract test (tests/contracts/test_space_contract.py) checks the count against the configs
themselves, enumerated, for every registered space.
"""

from __future__ import annotations

import itertools
import math
from typing import Any


def count_networks(space: Any) -> int:
    """The number of distinct canonical configs of `space` (a Python int: spaces reach 10^20)."""
    largest = space.largest()
    active = set(space.choices) - space.inactive_keys(largest)
    governed: dict[str, set[str]] = {}
    for key in active:
        switched = set()
        for value in space.choices[key].values:
            switched |= space.inactive_keys({**largest, key: value}) - space.inactive_keys(largest)
        if switched:
            governed[key] = switched
    distinct = _distinct_values(space, largest, [key for key in active if key not in governed])
    deciding_values = {key: _canonical_values(space, largest, key) for key in governed}
    all_governed = [key for keys in governed.values() for key in keys]
    if len(all_governed) == len(set(all_governed)) and not set(all_governed) & set(governed):
        free = active - set(governed) - set(all_governed)
        total = math.prod(distinct[key] for key in free)
        for key, keys in governed.items():
            total *= sum(math.prod(distinct[inner] for inner in keys - space.inactive_keys({**largest, key: value}))
                         for value in deciding_values[key])
        return total
    total = 0
    for values in itertools.product(*deciding_values.values()):  # deciding keys that interact
        config = {**largest, **dict(zip(deciding_values, values))}
        inactive = space.inactive_keys(config)
        total += math.prod(distinct[key] for key in distinct if key not in inactive)
    return total


def _canonical_values(space: Any, largest: dict, key: str) -> list:
    """The values of `key` that `canonical` keeps apart (one of each), the other keys at the largest."""
    kept: dict[Any, Any] = {}
    for value in space.choices[key].values:
        kept.setdefault(space.canonical({**largest, key: value})[key], value)
    return list(kept.values())


def _distinct_values(space: Any, largest: dict, keys: list[str]) -> dict[str, int]:
    """How many values of each of `keys` (none of them deciding) `canonical` keeps apart: all keys are
    varied together, one canonical call per position in the longest list of values."""
    seen: dict[str, set] = {key: set() for key in keys}
    longest = max((len(space.choices[key].values) for key in keys), default=0)
    for position in range(longest):
        config = dict(largest)
        for key in keys:
            values = space.choices[key].values
            config[key] = values[min(position, len(values) - 1)]
        canonical = space.canonical(config)
        for key in keys:
            seen[key].add(canonical[key])
    return {key: len(values) for key, values in seen.items()}
