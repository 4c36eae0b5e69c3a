"""Predictors on real measurements: small ViTs exported to ONNX and timed with ONNX Runtime on this CPU.

Synthetic latencies only check that a predictor fits the shape we assume; this checks the shape is
right. Depths 1-2 keep the export fast; the held-out predictions come from 4-fold cross-validation so
every measured config is predicted once by a predictor that did not see it.
"""

import warnings

import numpy as np
import pytest

from predictors import create_predictor, predictor_names, regression_quality
from search_spaces import create_space

pytest.importorskip("onnxruntime")

CONFIG_COUNT = 24
FOLDS = 4
PASSES = 3  # interleaved passes over all models; the fastest pass counts, so a burst of load elsewhere hurts less


def export_onnx(space, config, path):
    import torch

    network = space.build_network(config).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(network, (torch.randn(1, *space.input_shape),), str(path), dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["logits"])


@pytest.fixture(scope="module")
def measured_vits(tmp_path_factory):
    from hw_profiles import HardwareProfile, create_backend

    space = create_space("vit", depth_choices=(1, 2))
    backend = create_backend(HardwareProfile(name="test-fast", backend="onnxruntime", threads=1, warmup_ms=10,
                                             warmup_runs=5, min_repeats=20, min_time_ms=5))
    ok, reason = backend.available()
    if not ok:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("vits")
    rng = np.random.default_rng(3)
    configs = space.sample_distinct(CONFIG_COUNT, rng)
    paths = [folder / f"{index}.onnx" for index in range(len(configs))]
    for config, path in zip(configs, paths):
        export_onnx(space, config, path)
    passes = [[backend.measure(path, space.input_shape).median_ms for path in paths] for _ in range(PASSES)]
    return space, configs, np.min(passes, axis=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", predictor_names())
def test_ranks_real_latencies_on_held_out_configs(name, measured_vits):
    space, configs, latency = measured_vits
    predicted = np.empty_like(latency)
    folds = np.arange(len(configs)) % FOLDS
    for fold in range(FOLDS):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        predictor = create_predictor(name, space=space).fit([configs[i] for i in train], latency[train])
        predicted[test] = predictor.predict([configs[i] for i in test])
    quality = regression_quality(latency, predicted)
    assert quality["kendall_tau"] > 0.7, quality
