"""The search driver: anchors first, fixed choices held, budget = distinct evaluations, resume rules."""

import socket
import subprocess
import sys

import numpy as np
import pytest

from nas.errors import HwnasError
from nas.search.evaluators import PredictedEvaluator
from nas.search.driver import Evaluation, SearchConfig, completed_trials, open_study, recover_interrupted, run_search
from search_spaces import create_space


class MacsPredictor:
    """A stand-in latency predictor for fast unit tests (the real ones are tested in test_predictors*)."""

    def __init__(self, space):
        self.space = space

    def predict(self, configs):
        return np.array([self.space.cost_features(config)["macs"] / 1e6 for config in configs])


class CountingEvaluator:
    """Accuracy and latency from the space's costs; counts what it is asked to evaluate."""

    def __init__(self, space):
        self.space, self.seen = space, []

    def evaluate(self, config):
        self.seen.append(self.space.config_id(config))
        costs = self.space.cost_features(config)
        return Evaluation(float(np.log1p(costs["macs"])), float(costs["macs"] / 1e6 + 1.0))


@pytest.fixture(scope="module")
def joint(digits):
    space = create_space("vit", **digits.space_arguments(), precisions=["fp32", "int8"])
    return space, space.build_supernet().eval()


def search(space, evaluator, path, **settings):
    config = SearchConfig(**settings)
    return run_search(open_study(path, config, space), space, evaluator, config, progress=False)


def test_a_new_study_starts_from_the_anchors_at_every_precision(joint, digits, tmp_path):
    space, supernet = joint
    evaluator = PredictedEvaluator(space, supernet, digits, MacsPredictor(space))
    trials = completed_trials(search(space, evaluator, tmp_path / "study.db", trials=6, sampler="nsga2"))
    anchors = space.anchors()
    assert len(anchors) == 4  # largest and smallest, each all-int8 and all-fp32
    assert [t["config_id"] for t in trials[:4]] == [space.config_id(a) for a in anchors]
    assert trials[0]["latency_source"] == "predicted"
    # resuming does not enqueue them again
    study = search(space, evaluator, tmp_path / "study.db", trials=8, sampler="nsga2", resume=True)
    assert [t["config_id"] for t in completed_trials(study)].count(space.config_id(anchors[0])) == 1


def test_a_search_on_predictions_keeps_each_predictions_interval(joint, digits, tmp_path):
    from predictors import Calibration, IntervalPredictor

    space, supernet = joint
    calibration = Calibration.from_residuals(np.linspace(0.01, 0.2, 20))
    predictor = IntervalPredictor(MacsPredictor(space), calibration)
    trials = completed_trials(search(space, PredictedEvaluator(space, supernet, digits, predictor, coverage=0.8),
                                     tmp_path / "study.db", trials=5, sampler="random"))
    half_width = calibration.half_width(0.8)  # the 17th of 20 residuals
    for trial in trials:
        assert trial["predicted_latency_interval_coverage"] == 0.8
        assert trial["predicted_latency_low_ms"] == pytest.approx(trial["latency_ms"] * np.exp(-half_width))
        assert trial["predicted_latency_high_ms"] == pytest.approx(trial["latency_ms"] * np.exp(half_width))


def test_fixed_choices_are_held_in_every_trial(joint, tmp_path):
    space, _ = joint
    fixed = tuple((key, "int8") for key in space.choices if key.endswith(".precision"))
    study = search(space, CountingEvaluator(space), tmp_path / "study.db", trials=12, seed=1, fixed=fixed,
                   sampler="nsga2")
    trials = completed_trials(study)
    assert len({t["config_id"] for t in trials}) == 12
    for trial in trials:
        assert all(trial["config"][key] == "int8" for key, _ in fixed)
    assert {t["config"]["depth"] for t in trials} != {trials[0]["config"]["depth"]}  # the rest still varies
    assert "block0.precision" not in study.trials[-1].params


def test_an_unknown_fixed_key_is_refused(joint, tmp_path):
    space, _ = joint
    with pytest.raises(HwnasError, match="fixed choice 'block9.precision' is not a key of space 'vit'"):
        search(space, CountingEvaluator(space), tmp_path / "study.db", trials=2, fixed=(("block9.precision", "int8"),))


def test_the_budget_counts_distinct_networks_and_repeats_cost_nothing(tmp_path):
    space = create_space("vit", image_size=8, in_channels=1, num_classes=3, depth_choices=[1, 2],
                         embed_dim_choices=[16], num_heads_choices=[1], mlp_ratio_choices=[1.0, 2.0])
    evaluator = CountingEvaluator(space)  # this space has 6 networks: TPE proposes some twice
    study = search(space, evaluator, tmp_path / "study.db", trials=5, sampler="tpe")
    assert len(evaluator.seen) == len(set(evaluator.seen)) == 5
    trials = completed_trials(study)
    assert len({t["config_id"] for t in trials}) == 5
    repeats = [t for t in trials if t.get("repeat")]
    assert len(trials) == 5 + len(repeats)


def test_a_stored_study_needs_resume_and_the_same_space_and_budget(tmp_path):
    space = create_space("nb201")
    search(space, CountingEvaluator(space), tmp_path / "study.db", trials=3, sampler="random")
    with pytest.raises(HwnasError, match="already has .* trials; pass --resume"):
        search(space, CountingEvaluator(space), tmp_path / "study.db", trials=4, sampler="random")
    with pytest.raises(HwnasError, match="was made with latency_ms = None, not 5.0"):
        search(space, CountingEvaluator(space), tmp_path / "study.db", trials=4, latency_ms=5.0, resume=True)
    other = create_space("ofa_mbv3")
    with pytest.raises(HwnasError, match="was made with space"):
        search(other, CountingEvaluator(other), tmp_path / "study.db", trials=4, resume=True)


def test_a_broken_study_database_is_one_line(tmp_path):
    broken = tmp_path / "study.db"
    broken.write_bytes(b"this is not sqlite" * 10)
    with pytest.raises(HwnasError, match="cannot be opened"):
        open_study(broken, SearchConfig(trials=2), create_space("nb201"))
    assert broken.read_bytes() == b"this is not sqlite" * 10


def test_a_trial_left_running_by_a_dead_process_is_failed_and_asked_again(tmp_path):
    from optuna.trial import TrialState

    space = create_space("nb201")
    config = SearchConfig(trials=4, sampler="random")
    study = open_study(tmp_path / "study.db", config, space)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = study.ask(fixed_distributions=space.distributions())
    orphan.set_user_attr("worker", {"host": socket.gethostname(), "pid": int(dead.stdout)})
    orphan_id = space.config_id(orphan.params)
    elsewhere = study.ask(fixed_distributions=space.distributions())  # another host, heartbeat fresh: alive
    elsewhere.set_user_attr("worker", {"host": "another-machine", "pid": 1})
    elsewhere.set_user_attr("heartbeat", __import__("time").time())
    assert recover_interrupted(study, space, {}, stale_after_s=120) == [orphan.number]
    states = {t.number: t.state for t in study.trials}
    assert states[orphan.number] == TrialState.FAIL and states[elsewhere.number] == TrialState.RUNNING
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert [space.config_id(t.system_attrs["fixed_params"]) for t in waiting] == [orphan_id]
    assert recover_interrupted(study, space, {}, stale_after_s=0) == [elsewhere.number]  # now stale
    study = run_search(study, space, CountingEvaluator(space), SearchConfig(trials=4, sampler="random", resume=True),
                       progress=False)
    assert orphan_id in {t["config_id"] for t in completed_trials(study)}


KILLED_WHILE_SAMPLING = """
import os, signal, sys
import optuna
from nas.search.driver import Evaluation, SearchConfig, open_study, run_search
from search_spaces import create_space

class DiesWhileSampling(optuna.samplers.RandomSampler):  # after choosing int(sys.argv[2]) of the keys
    def sample_independent(self, study, trial, name, distribution):
        if len(trial.params) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().sample_independent(study, trial, name, distribution)

class Constant:
    def evaluate(self, config):
        return Evaluation(0.5, 1.0)

space, config = create_space("nb201"), SearchConfig(trials=20, sampler="random")
study = open_study(sys.argv[1], config, space)
study.sampler = DiesWhileSampling()
run_search(study, space, Constant(), config, progress=False)
"""


@pytest.mark.parametrize("chosen", [0, 2])
def test_a_process_killed_while_its_sampler_runs_leaves_a_trial_a_resume_fails(tmp_path, chosen):
    """The trial exists from the moment it is asked; it must name its process before the sampler runs
    (a guided sampler can take seconds), else a kill then leaves it RUNNING for good; and a trial killed
    with only some keys chosen is failed, not asked again."""
    from optuna.trial import TrialState

    path = tmp_path / "study.db"
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_SAMPLING, str(path), str(chosen)],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    space = create_space("nb201")
    study = open_study(path, SearchConfig(trials=20, sampler="random", resume=True), space)
    running = [t.number for t in study.trials if t.state == TrialState.RUNNING]
    assert len(running) == 1 and len(study.trials[running[0]].params) == chosen
    assert recover_interrupted(study, space, {}, stale_after_s=3600) == running
    assert not [t for t in study.trials if t.state == TrialState.WAITING]


def test_a_trial_asked_but_never_stamped_is_failed_after_the_grace_and_a_late_stamp_is_respected(tmp_path,
                                                                                                monkeypatch):
    """A process killed between the trial's creation and its stamp leaves a RUNNING trial that names no
    process: resume waits a moment (a live process stamps within milliseconds) and then fails it."""
    import threading

    from optuna.trial import TrialState

    import nas.search.recovery

    monkeypatch.setattr(nas.search.recovery, "UNSTAMPED_GRACE_SECONDS", 0.5)
    space = create_space("nb201")
    study = open_study(tmp_path / "study.db", SearchConfig(trials=4, sampler="random"), space)
    orphan = study.ask()  # its process "died" before stamping it
    slow = study.ask()  # its process is alive and stamps it during the grace
    stamper = threading.Timer(0.1, lambda: slow.set_user_attr("worker", {"host": socket.gethostname(), "pid": 1}))
    stamper.start()
    assert recover_interrupted(study, space, {}, stale_after_s=3600) == [orphan.number]
    stamper.join()
    states = {t.number: t.state for t in study.trials}
    assert states[orphan.number] == TrialState.FAIL and states[slow.number] == TrialState.RUNNING


def test_two_evaluations_of_one_network_finishing_at_once_count_once(tmp_path):
    """Another process asked a trial before this one and was still choosing its network when this one
    checked for duplicates; both then evaluate the same network and finish together. The earlier trial
    counts it, so the later is marked a repeat whichever finishes first (before the fix, both counted:
    the shared-study PostgreSQL test saw it as a rare extra evaluation)."""
    from optuna.trial import TrialState

    from nas.search.driver import _worker

    space = create_space("vit", image_size=8, in_channels=1, num_classes=3, depth_choices=[1, 2],
                         embed_dim_choices=[16], num_heads_choices=[1], mlp_ratio_choices=[1.0, 2.0])
    network = space.smallest()
    fixed = tuple(network.items())  # every choice fixed: this process proposes exactly `network`
    config = SearchConfig(trials=1, fixed=fixed, sampler="random")
    study = open_study(None, config, space)
    earlier = study.ask()  # the other process's trial: asked, stamped, its network not yet chosen
    earlier.set_user_attr("worker", _worker())
    config_id = space.config_id(space.canonical(network))

    class OtherProcessDescribesMeanwhile(CountingEvaluator):
        def evaluate(self, config):
            earlier.set_user_attr("config_id", config_id)  # ... and now it has chosen the same network
            return super().evaluate(config)

    run_search(study, space, OtherProcessDescribesMeanwhile(space), config, progress=False)
    later = [t for t in study.trials if t.number != earlier.number and t.state == TrialState.COMPLETE]
    assert len(later) == 1 and later[0].user_attrs["config_id"] == config_id
    assert later[0].user_attrs.get("repeat") is True  # the earlier trial counts the network
    from nas.search.driver import _counted

    study.tell(earlier, [0.5, 2.0])  # the other process finishes: exactly one trial counts the network
    assert list(_counted(study)) == [config_id]
