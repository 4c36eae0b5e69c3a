"""What a study's trials hold, shared by the sampler and the code that reads them (the trial table of
`hwnas search`, `hwnas report`, the guided sampler itself when it resumes)."""

from __future__ import annotations

from typing import Any, Mapping

PREDICTED_ATTR = "hwnas:predicted"  # trial system attr: what was predicted for a network before it was measured
PREDICTED_FRONT_ATTR = "guided_predicted_front"  # study user attr: the predicted-only front, for `hwnas report`


def chosen_fully(space: Any, fixed: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether `params` choose every key of the space that is not fixed (a trial's params are
    suggested one by one, so a process killed meanwhile leaves some)."""
    return bool(params) and all(key in params or key in fixed for key in space.choices)
