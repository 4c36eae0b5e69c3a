"""Normal scores: a monotone map of measured values onto standard-normal quantiles by their rank.

The guided sampler models accuracy in this space. NAS accuracies are skewed (a long tail of broken
networks, a dense top where the front lies); by rank the top is spread out and the tail compressed, so
a surrogate fitted there spends its splits where the front is, and a Gaussian uncertainty is about as
wide at the top as elsewhere. The map is monotone, so it changes no domination: a candidate's chance
of being dominated is the same in either space. Values outside the fitted range extend the map
linearly with the slope of its outer ends, so a new best is still better than the old.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

END_KNOTS = 5  # the slope beyond either end is taken over this many distinct values


class NormalScores:
    def fit(self, values: Sequence[float]) -> "NormalScores":
        values = np.asarray(values, dtype=float)
        if not len(values):
            raise ValueError("normal scores need at least one value")
        scores = ndtri((rankdata(values) - 0.5) / len(values))
        self.knots_, first = np.unique(values, return_index=True)
        self.scores_ = scores[first]
        if len(self.knots_) == 1:
            self.low_slope_ = self.high_slope_ = 1.0
        else:
            span = min(END_KNOTS, len(self.knots_) - 1)
            self.low_slope_ = (self.scores_[span] - self.scores_[0]) / (self.knots_[span] - self.knots_[0])
            self.high_slope_ = (self.scores_[-1] - self.scores_[-1 - span]) / (self.knots_[-1] - self.knots_[-1 - span])
        return self

    def transform(self, values: Sequence[float]) -> np.ndarray:
        return _extended_interp(values, self.knots_, self.scores_, self.low_slope_, self.high_slope_)

    def inverse_transform(self, scores: Sequence[float]) -> np.ndarray:
        return _extended_interp(scores, self.scores_, self.knots_, 1.0 / self.low_slope_, 1.0 / self.high_slope_)


def _extended_interp(x: Sequence[float], xp: np.ndarray, fp: np.ndarray, low_slope: float,
                     high_slope: float) -> np.ndarray:
    """np.interp(x, xp, fp), continued below xp[0] and above xp[-1] by straight lines of these slopes."""
    x = np.asarray(x, dtype=float)
    y = np.interp(x, xp, fp)
    y = np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * high_slope, y)
    return np.where(x < xp[0], fp[0] + (x - xp[0]) * low_slope, y)
