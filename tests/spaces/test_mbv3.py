"""The `mbv3` supernet: one-to-one with the `ofa_mbv3` table space, resolution on small images, the
learned kernel transform, BatchNorm recalibration, int8 pointwise layers on integer kernels."""

from pathlib import Path

import numpy as np
import pytest
import torch

from nas.cli import main
from nas.errors import HwnasError
from nas.models.evaluate import evaluation_network
from nas.models.onnx_export import export_onnx, integer_kernels
from search_spaces import ConfigError, create_space
from search_spaces.batch_norm import recalibrate_batch_norm

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "ofa_mbv3_latency_ms.csv"
TINY = {"image_size": 16, "in_channels": 1, "num_classes": 10, "width_mult": 0.25, "depth_choices": [1, 2],
        "expand_ratio_choices": [3, 6], "resolution_choices": [160, 192, 224]}


def test_full_width_configs_are_ofa_mbv3_configs_with_the_same_costs():
    ours, table = create_space("mbv3"), create_space("ofa_mbv3")
    assert {key: choice.values for key, choice in ours.choices.items()} == \
           {key: choice.values for key, choice in table.choices.items()}
    rng = np.random.default_rng(0)
    for config in [ours.largest(), ours.smallest()] + [ours.sample(rng) for _ in range(30)]:
        assert table.canonical(config) == config and table.config_id(config) == ours.config_id(config)
        mine, theirs = ours.cost_features(config), table.cost_features(config)
        assert {key: mine[key] for key in theirs} == theirs  # MACs, params, activations, as published
    assert sum(p.numel() for p in ours.build_network(ours.largest()).parameters()) == \
           table.cost_features(ours.largest())["params"] == 7_664_760


def test_table_space_accepts_and_ignores_fp32_or_int8_precision_keys():
    ours, table = create_space("mbv3", precisions=["fp32", "int8"]), create_space("ofa_mbv3")
    config = ours.sample(3)
    assert any(key.endswith(".precision") for key in config)
    fp32 = ours.at_precision(config, "fp32")
    assert table.canonical(config) == table.canonical(fp32) == {k: v for k, v in fp32.items() if "precision" not in k}
    with pytest.raises(ConfigError, match=r"'block0.precision' = 'int4' is not allowed; allowed: int8, fp32"):
        table.canonical({**config, "block0.precision": "int4"})


@pytest.mark.skipif(not TABLE.exists(), reason=f"{TABLE} is not on this machine")
def test_predictor_fitted_on_the_published_table_predicts_mbv3_configs(tmp_path):
    from predictors import load_predictor

    out = tmp_path / "ofa.joblib"
    assert main(["predictor", "fit", "--space", "ofa_mbv3", "--table", str(TABLE), "--target", "2080ti_1",
                 "--train-size", "500", "--out", str(out)]) == 0
    predictor, _ = load_predictor(out)
    for space in (create_space("mbv3"), create_space("mbv3", precisions=["fp32", "int8"])):
        configs = [space.sample(seed) for seed in range(20)] + space.anchors()
        predicted = predictor.predict(configs)  # the sampled dicts as they are: no conversion
        assert np.all(np.isfinite(predicted)) and np.all(predicted > 0)
        fp32 = predictor.predict([space.at_precision(config, "fp32") if space.precision_keys else config
                                  for config in configs])
        np.testing.assert_array_equal(predicted, fp32)  # the table is fp32: precision is ignored
    largest, smallest = predictor.predict([space.largest(), space.smallest()])
    assert largest > smallest


def test_resolution_is_relative_to_the_image_size_and_canonical():
    space = create_space("mbv3", image_size=28, in_channels=1, num_classes=10)
    assert space.input_side(224) == 28 and space.input_side(128) == 16 and space.input_side(132) == 16
    config = space.largest()
    assert space.config_id({**config, "resolution": 132}) == space.config_id({**config, "resolution": 128})
    assert space.canonical({**config, "resolution": 132})["resolution"] == 128
    assert space.shape({**config, "resolution": 176}).input_side == 22
    full = create_space("mbv3")
    assert all(full.input_side(r) == r for r in full.choices["resolution"].values)


def test_kernel_transform_starts_as_centre_slicing_and_learns():
    space = create_space("mbv3", **TINY)
    block = space.build_supernet().blocks[0]
    largest = block.depthwise.weight
    torch.testing.assert_close(block.depthwise_kernel(5, 8), largest[:8, :, 1:6, 1:6])
    torch.testing.assert_close(block.depthwise_kernel(3, 8), largest[:8, :, 2:5, 2:5])
    with torch.no_grad():
        block.transform_5to3.mul_(2.0)
    torch.testing.assert_close(block.depthwise_kernel(3, 8), 2 * largest[:8, :, 2:5, 2:5])
    loss = block.depthwise_kernel(3, 8).sum()
    loss.backward()
    assert block.transform_7to5.grad is not None and block.transform_5to3.grad.abs().sum() > 0


def test_batch_norm_is_recalibrated_on_the_sub_networks_own_statistics():
    space = create_space("mbv3", **TINY)
    supernet = space.build_supernet().train()
    torch.manual_seed(0)
    data = torch.randn(256, *space.input_shape) * 3 + 1
    with torch.no_grad():
        for seed in range(4):  # the shared statistics follow other sub-networks
            supernet(data[:64], space.sample(seed))
    config = space.smallest()
    network = evaluation_network(space, supernet.eval(), config, data.numpy())
    assert space.calibration_samples >= 256
    first = torch.nn.functional.conv2d(torch.nn.functional.interpolate(
        data, size=(network.shape.input_side,) * 2, mode="bilinear", align_corners=False),
        network.first_conv.weight, stride=2, padding=1)
    batch_means = first.reshape(4, 64, *first.shape[1:]).mean(dim=(1, 3, 4))  # per calibration batch
    torch.testing.assert_close(network.first_norm.running_mean, batch_means.mean(dim=0), atol=1e-5, rtol=1e-4)
    assert not network.training
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batch_norm(network, [])


def test_int8_blocks_run_integer_pointwise_kernels(tmp_path):
    space = create_space("mbv3", **TINY, precisions=["fp32", "int8"])
    supernet = space.build_supernet().eval()
    config = {**space.largest(), "block0.precision": "int8", "block4.precision": "int8"}
    network = supernet.extract(space.canonical(config))
    assert [block.pointwise for block in network.shape.blocks].count("matmul") == 2
    assert len(network.int8_weights()) == 4  # expand and project of the two int8 blocks
    path = export_onnx(network, space.input_shape, tmp_path / "mixed.onnx")
    assert integer_kernels(path, network.int8_scheme) == 4
    costs = space.cost_features(space.canonical(config))
    assert costs["int8_blocks"] == 2 and 0 < costs["int8_pointwise_macs"] < costs["pointwise_macs"]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ConfigError, match="kernel_size_choices"):
        create_space("mbv3", kernel_size_choices=[3, 4])
    with pytest.raises(ConfigError, match="width_mult"):
        create_space("mbv3", width_mult=0)


def test_an_elastic_bundle_of_mbv3_variants_rebuilds_each_with_its_transformed_kernels(tmp_path):
    """A 5x5 or 3x3 kernel is a learned transform of the 7x7 one, not a slice: the bundle stores each
    slot's transformed kernels (`slice_sources`) and every variant still equals its extraction."""
    from nas import ElasticModel
    from nas.export.elastic import write_bundle

    space = create_space("mbv3", **TINY, precisions=["fp32", "int8"])
    supernet = space.build_supernet().eval()
    with torch.no_grad():  # trained transforms are not the identity (centre slicing) they start as
        for block in supernet.blocks:
            block.transform_7to5.add_(0.05 * torch.randn_like(block.transform_7to5))
            block.transform_5to3.add_(0.05 * torch.randn_like(block.transform_5to3))
    configs = [space.smallest(), space.sample(1), space.sample(2), space.largest()]
    assert {block.kernel_size for c in configs for block in space.shape(c).blocks} == {3, 5, 7}
    variants = [{"name": space.config_id(c), "config": c, "accuracy": 0.5 + 0.1 * i, "latency_ms": 1.0 + i}
                for i, c in enumerate(configs)]
    # as export writes them: each sub-network with its own recalibrated BatchNorm statistics
    calibration = (torch.randn(256, *space.input_shape) * 2 + 1).numpy()
    networks = {v["name"]: evaluation_network(space, supernet, v["config"], calibration) for v in variants}
    path = write_bundle(tmp_path / "elastic.pt", space, supernet, variants, networks=networks)
    model = ElasticModel.load(path)
    images = torch.randn(4, *space.input_shape)
    for variant, config in zip(model.variants, configs):
        with torch.no_grad():
            rebuilt, exported = model.module(variant)(images), networks[variant.name](images)
            torch.testing.assert_close(rebuilt, exported, atol=1e-6, rtol=0)
            assert not torch.allclose(rebuilt, supernet.extract(config)(images), atol=1e-3)  # statistics matter
    plain = ElasticModel.load(write_bundle(tmp_path / "plain.pt", space, supernet, variants))  # no networks given
    with torch.no_grad():
        torch.testing.assert_close(plain.module(plain.variants[0])(images), supernet.extract(configs[0])(images),
                                   atol=1e-6, rtol=0)
    # a per-variant tensor that was changed is caught by its checksum, in one line
    state = torch.load(path, weights_only=True)
    name = next(iter(state["own"]))
    key = next(iter(state["own"][name]))
    state["own"][name][key] += 1.0
    torch.save(state, tmp_path / "changed.pt")
    with pytest.raises(HwnasError, match=f"is corrupt: tensor '{name}/{key}' does not match its checksum"):
        ElasticModel.load(tmp_path / "changed.pt")
