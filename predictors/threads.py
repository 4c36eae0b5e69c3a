"""`one_thread()`: run the numeric libraries (OpenMP in the histogram trees, BLAS under the MLP) on one
thread. Predictors fit a few hundred rows: threads gain nothing there, and on a machine whose cores are
busy, spinning OpenMP threads made the fits ten times slower."""

from __future__ import annotations

from typing import Any

_CONTROLLER: list = []


def one_thread() -> Any:
    """A context manager limiting every thread pool threadpoolctl knows to one thread."""
    if not _CONTROLLER:
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401  (loads the OpenMP runtime)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1)
