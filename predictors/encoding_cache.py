"""An opt-in memo of encoded rows, for benchmarks that encode the same configs hundreds of times.

Encoding a config calls the space's pure-Python cost functions (a few hundred microseconds). A
benchmark that fits and scores many predictors on one 15,625-row table encodes every row once per
fit; inside ``with cached_encodings():`` each encoder kind encodes each config once. Rows are keyed
by the encoder's kind and space and by the config's content (its items, in key order), so a config
rebuilt from storage finds the row of an equal one; a config with an unhashable value is encoded
without the memo. Outside the block nothing is cached. A caller that encodes the same configs across
many blocks (the guided sampler refits its latency surrogate on a fixed candidate pool) passes its own
`memo` dict to keep the rows between blocks.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

_ACTIVE: list[dict] = []


@contextmanager
def cached_encodings(memo: dict | None = None) -> Iterator[None]:
    """Memoise encoded rows until the block ends (in `memo`, when given, which then outlives the block)."""
    _ACTIVE.append({} if memo is None else memo)
    try:
        yield
    finally:
        _ACTIVE.pop()


def memoised(key: tuple, config: Mapping[str, Any], compute: Callable[[Mapping[str, Any]], Any]) -> Any:
    """`compute(config)`, remembered under `key` for configs with these items while a cache is active."""
    if not _ACTIVE:
        return compute(config)
    content = tuple(sorted(config.items(), key=_first))
    try:
        return _ACTIVE[-1].setdefault(key, {})[content]
    except KeyError:
        row = _ACTIVE[-1][key][content] = compute(config)
        return row
    except TypeError:  # an unhashable value (a list): not memoised
        return compute(config)


def _first(item: tuple) -> Any:
    return item[0]


def encode_rows(key: tuple, configs: Sequence[Mapping[str, Any]], width: int,
                encode_one: Callable[[Mapping[str, Any]], Any]) -> np.ndarray:
    """An (n, width) matrix whose row i is `encode_one(configs[i])`, memoised under `key` when active."""
    matrix = np.zeros((len(configs), width))
    for row, config in enumerate(configs):
        matrix[row] = memoised(key, config, encode_one)
    return matrix
