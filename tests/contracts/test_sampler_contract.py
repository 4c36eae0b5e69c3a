"""The sampler contract, run over every registered sampler (`SAMPLERS.names()` at collection time, so a newly
registered sampler is tested without anyone listing it): on a 300-row slice of the published NAS-Bench-201
tables (tests/data, made by scripts/make_nb201_slice.py) a short search evaluates exactly its budget of
distinct networks, every one of them from the table, and a repeat with the same seed evaluates them in the
same order (the bench scores shorter budgets on prefixes, so the order must be reproducible).

A sampler that cannot be created here (`auto` without the optunahub package) is not skipped: it must refuse
with a one-line HwnasError naming itself and saying why. `check_sampler(name)` is the whole check;
tests/contracts/test_registry.py calls it on a throwaway sampler registered for the test.
"""

from functools import lru_cache
from pathlib import Path

import pytest

from nas.errors import HwnasError
from nas.search.benchmark import TableScore, bench_search, evaluation_order, run_on_table
from nas.search.benchmark_tables import load_benchmark
from nas.search.driver import SearchConfig
from nas.search.samplers import SAMPLERS, SamplerContext, create_sampler
from search_spaces import create_space

DATA = Path(__file__).resolve().parents[1] / "data"
ACCURACY, LATENCY = DATA / "nb201_slice_accuracy.csv", DATA / "nb201_slice_latency_ms.csv"
TRIALS = 12  # distinct networks each search evaluates


@lru_cache(maxsize=1)
def slice_table():
    """The NB201 slice: CIFAR-10 test accuracy against latency on a Xeon Gold 6226."""
    return load_benchmark(create_space("nb201"), ACCURACY, "cifar10_test_acc", LATENCY, "gold_6226")


def unavailable_reason(name: str) -> str | None:
    """Why sampler `name` cannot be created here (its one-line HwnasError), or None when it can."""
    table = slice_table()
    try:
        create_sampler(name, SamplerContext(space=table.space, candidates=table.configs))
    except HwnasError as error:
        return str(error)
    return None


def check_sampler(name: str) -> str:
    """The contract on the registered sampler `name`: 'searched', or 'unavailable' after checking that its
    refusal is one line naming the sampler."""
    reason = unavailable_reason(name)
    if reason is not None:
        assert reason.strip() and "\n" not in reason, f"sampler {name!r} refused with {reason!r}"
        assert f"'{name}'" in reason and "not available here" in reason, reason
        return "unavailable"
    table = slice_table()
    config = SearchConfig(trials=TRIALS, sampler=name, seed=0)
    order = evaluation_order(run_on_table(table, config))
    assert len(order) == TRIALS, f"sampler {name!r} evaluated {len(order)} networks for a budget of {TRIALS}"
    assert {config_id for config_id, _, _ in order} <= set(table.config_ids)
    assert evaluation_order(run_on_table(table, config)) == order, f"sampler {name!r} is not reproducible by seed"
    score = TableScore(table).score(order)  # what bench_search reports for this order
    assert score["evaluations"] == TRIALS and 1 <= score["found_front_size"] <= TRIALS
    assert 0.0 <= score["hypervolume_ratio"] <= 1.0 + 1e-9
    return "searched"


def test_the_slice_has_the_rows_and_a_real_front():
    """300 networks with a front of many members (the slice keeps the full table's front)."""
    table = slice_table()
    assert len(table) == 300 and len(TableScore(table).true_front_ids) >= 20


@pytest.mark.parametrize("sampler", SAMPLERS.names())
def test_every_sampler_searches_the_slice_or_says_why_not(sampler):
    check_sampler(sampler)


def test_bench_search_reports_the_budget_on_the_slice():
    """bench_search itself (what `hwnas bench search` prints) on the slice, with the cheapest sampler."""
    result = bench_search(slice_table(), SearchConfig(trials=TRIALS, sampler="random", seed=0))
    assert result["evaluations"] == TRIALS and 1 <= result["found_front_size"] <= TRIALS
    assert result["table_networks"] == 300 and result["front"][0].startswith("|")


def test_auto_says_why_it_is_missing():
    """Without optunahub, `auto` must say so (and what to use instead); with it, it is created or refuses
    in one line (downloading AutoSampler needs github.com)."""
    try:
        import optunahub  # noqa: F401
    except ImportError:
        with pytest.raises(HwnasError, match="sampler 'auto' is not available here: .*optunahub"):
            create_sampler("auto")
        assert check_sampler("auto") == "unavailable"
    else:
        reason = unavailable_reason("auto")
        assert reason is None or ("\n" not in reason and "OptunaHub" in reason)
