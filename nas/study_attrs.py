"""Names of what the guided sampler stores in a study, shared by the sampler and the code that reads them
(the trial table of `hwnas search`, `hwnas report`, the sampler itself when it resumes)."""

PREDICTED_ATTR = "hwnas:predicted"  # trial system attr: what was predicted for a network before it was measured
PREDICTED_FRONT_ATTR = "guided_predicted_front"  # study user attr: the predicted-only front, for `hwnas report`
