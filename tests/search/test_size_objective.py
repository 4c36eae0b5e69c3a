"""The deployed file's size as a third objective and as a budget: computed from the config alone (the
exported file's exact length), searched with three directions, fronts non-dominated in all three."""

import json

import numpy as np
import pytest
import torch

from nas.errors import HwnasError
from nas.models.file_size import deployed_bytes, size_mb
from nas.models.onnx_export import export_onnx
from nas.search.driver import SearchConfig, completed_trials, open_study, run_search
from nas.search.evaluators import PredictedEvaluator
from nas.search.front import front_of_trials
from nas.search.objectives import pareto_mask_nd
from search_spaces import create_space


class MacsPredictor:
    def __init__(self, space):
        self.space = space

    def predict(self, configs):
        return np.array([self.space.cost_features(config)["macs"] / 1e6 for config in configs])


@pytest.fixture(scope="module")
def joint(digits):
    space = create_space("vit", **digits.space_arguments(), precisions=["fp32", "int8", "int4"])
    supernet = space.build_supernet().eval()
    with torch.no_grad():  # trained weights have no two equal tensors (the exporter folds equal ones)
        for parameter in supernet.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.01)
    return space, supernet


def test_size_from_the_config_is_the_exported_files_size(joint, tmp_path):
    space, supernet = joint
    rng = np.random.default_rng(0)
    configs = [space.largest(), space.smallest()] + [space.canonical(space.sample(rng)) for _ in range(2)]
    sizes = set()
    for index, config in enumerate(configs):
        path = export_onnx(supernet.extract(config), space.input_shape, tmp_path / f"{index}.onnx")
        assert abs(deployed_bytes(space, config) - path.stat().st_size) <= 0.01 * path.stat().st_size
        sizes.add(deployed_bytes(space, config))
    assert len(sizes) == len(configs)  # precision and shape both change it
    int4, fp32 = space.at_precision(space.largest(), "int4"), space.at_precision(space.largest(), "fp32")
    assert size_mb(space, int4) < size_mb(space, fp32) / 3


def test_a_three_objective_search_finds_a_front_in_accuracy_latency_and_size(joint, digits, tmp_path):
    space, supernet = joint
    config = SearchConfig(trials=10, sampler="nsga2", objectives="accuracy,latency,size", size_mb=1.0)
    study = open_study(tmp_path / "study.db", config, space)
    assert [direction.name for direction in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    evaluator = PredictedEvaluator(space, supernet, digits, MacsPredictor(space), with_size=True)
    trials = completed_trials(run_search(study, space, evaluator, config, progress=False))
    assert len(trials) == 10 and all(trial["size_mb"] == pytest.approx(size_mb(space, trial["config"]))
                                     for trial in trials)
    front = front_of_trials(trials, size_mb=config.size_mb, objectives=config.objectives)
    assert front and all(entry["size_mb"] <= 1.0 for entry in front)
    values = np.array([[t["val_accuracy"], t["latency_ms"], t["size_mb"]] for t in trials if t["size_mb"] <= 1.0])
    kept = pareto_mask_nd(values, ["maximize", "minimize", "minimize"])
    assert len(front) == len({tuple(row) for row in values[kept]})
    # the size budget is a constraint Optuna sees: infeasible trials carry a positive value
    over = [t for t in trials if t["size_mb"] > 1.0]
    assert all(t["constraint"][-1] > 0 if isinstance(t["constraint"], list) else t["constraint"] > 0 for t in over)


def test_objectives_are_checked_in_one_line(joint, tmp_path):
    with pytest.raises(HwnasError, match="the guided sampler searches accuracy,latency only; for --objectives "
                                         "accuracy,latency,size use --sampler nsga2"):
        SearchConfig(objectives="accuracy,latency,size")
    with pytest.raises(HwnasError, match="search field 'objectives' must be one of accuracy,latency, "
                                         "accuracy,latency,size, got 'accuracy,size'"):
        SearchConfig(objectives="accuracy,size", sampler="nsga2")
    with pytest.raises(HwnasError, match="search field 'size_mb' must be a positive number"):
        SearchConfig(size_mb=0)
    space, _ = joint
    open_study(tmp_path / "s.db", SearchConfig(trials=1, sampler="nsga2"), space).set_user_attr("x", 1)
    with pytest.raises(HwnasError, match="was made with"):  # a stored study keeps its objectives
        study = open_study(tmp_path / "s.db", SearchConfig(trials=1, sampler="nsga2"), space)
        study.enqueue_trial(space.largest())
        open_study(tmp_path / "s.db", SearchConfig(trials=1, sampler="nsga2", objectives="accuracy,latency,size",
                                                   resume=True), space)


def test_budgets_reach_optunas_samplers_as_trial_constraints_without_the_deprecated_argument(
        joint, digits, tmp_path):
    """Optuna 5 deprecated `constraints_func`: each trial's budgets are set on the trial itself, where the
    samplers read them (latency first, then size, keys "0" and "1" as constraints_func stored them)."""
    import warnings

    space, supernet = joint
    config = SearchConfig(trials=4, sampler="tpe", latency_ms=0.05, size_mb=0.3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = open_study(tmp_path / "study.db", config, space)
        evaluator = PredictedEvaluator(space, supernet, digits, MacsPredictor(space), with_size=True)
        run_search(study, space, evaluator, config, progress=False)
    assert not [w for w in caught if "constraints_func" in str(w.message)]
    finished = [trial for trial in study.get_trials() if trial.values]
    assert len(finished) >= 4
    for trial in finished:
        latency = trial.values[1]
        assert trial.constraints == pytest.approx({"0": latency - 0.05, "1": trial.user_attrs["size_mb"] - 0.3})
