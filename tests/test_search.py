"""The search loop: anchors first, fixed choices held, bad fixed keys refused."""

import numpy as np
import pytest

from nas.errors import HwnasError
from nas.search import SearchConfig, completed_trials, run_search
from search_spaces import create_space


class MacsPredictor:
    """A stand-in latency predictor for fast unit tests (the real ones are tested in test_predictors*)."""

    def __init__(self, space):
        self.space = space

    def predict(self, configs):
        return np.array([self.space.cost_features(config)["macs"] / 1e6 for config in configs])


@pytest.fixture(scope="module")
def joint(digits):
    space = create_space("vit", **digits.space_arguments(), precisions=["fp32", "int8"])
    return space, space.build_supernet().eval()


def test_a_new_study_starts_from_the_anchors_at_every_precision(joint, digits, tmp_path):
    space, supernet = joint
    study = run_search(space, supernet, digits, MacsPredictor(space), tmp_path / "study.db",
                       SearchConfig(trials=6, seed=0), progress=False)
    trials = completed_trials(study)
    anchors = space.anchors()
    assert len(anchors) == 4  # largest and smallest, each all-int8 and all-fp32
    assert [t["config_id"] for t in trials[:4]] == [space.config_id(a) for a in anchors]
    # resuming does not enqueue them again
    study = run_search(space, supernet, digits, MacsPredictor(space), tmp_path / "study.db",
                       SearchConfig(trials=8, seed=0), progress=False)
    assert [t["config_id"] for t in completed_trials(study)].count(space.config_id(anchors[0])) == 1


def test_fixed_choices_are_held_in_every_trial(joint, digits, tmp_path):
    space, supernet = joint
    fixed = tuple((key, "int8") for key in space.choices if key.endswith(".precision"))
    study = run_search(space, supernet, digits, MacsPredictor(space), tmp_path / "study.db",
                       SearchConfig(trials=12, seed=1, fixed=fixed), progress=False)
    trials = completed_trials(study)
    assert len(trials) == 12
    for trial in trials:
        assert all(trial["config"][key] == "int8" for key, _ in fixed)
    assert {t["config"]["depth"] for t in trials} != {trials[0]["config"]["depth"]}  # the rest still varies
    assert "block0.precision" not in study.trials[-1].params


def test_an_unknown_fixed_key_is_refused(joint, digits, tmp_path):
    space, supernet = joint
    with pytest.raises(HwnasError, match="fixed choice 'block9.precision' is not a key of space 'vit'"):
        run_search(space, supernet, digits, MacsPredictor(space), tmp_path / "study.db",
                   SearchConfig(trials=2, fixed=(("block9.precision", "int8"),)), progress=False)
