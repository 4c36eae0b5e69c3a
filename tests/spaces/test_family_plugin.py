"""A family plugs in through `search_spaces` alone: a toy space registered here, in the test file, runs the
whole pipeline (train -> profile -> fit -> search -> export) with nothing in `nas/` knowing its name."""

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas import pipeline
from nas.search.driver import SearchConfig
from nas.training.train import TrainingConfig
from search_spaces import Choice, SearchSpace, register_space
from search_spaces.batch_norm import ElasticBatchNorm2d

pytestmark = pytest.mark.slow
NAS = Path(__file__).resolve().parents[2] / "nas"


class ToyNetwork(nn.Module):
    """Flatten -> [1x1 "conv" as Linear -> BatchNorm -> ReLU] x depth -> classifier."""

    def __init__(self, inputs, widths, classes, norm=nn.BatchNorm2d):
        super().__init__()
        self.widths = widths
        sizes = [inputs, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.norms = nn.ModuleList(norm(width) for width in widths)
        self.head = nn.Linear(sizes[-1], classes)

    def forward(self, images, widths=None, depth=None):
        widths = widths or self.widths
        x = images.flatten(1)
        for layer, norm, width in zip(self.layers[:len(widths)], self.norms, widths):
            x = F.linear(x, layer.weight[:width, :x.shape[1]], layer.bias[:width])
            x = F.relu(norm(x[:, :, None, None]).flatten(1))
        return F.linear(x, self.head.weight[:, :x.shape[1]], self.head.bias)


class ToySupernet(ToyNetwork):
    def __init__(self, space):
        super().__init__(space.inputs, [space.choices["width"].values[-1]] * 2, space.arguments["num_classes"],
                         ElasticBatchNorm2d)
        self.space = space

    def forward(self, images, config=None):
        return super().forward(images, self.space.widths(config or self.space.largest()))

    @torch.no_grad()
    def extract(self, config):
        widths = self.space.widths(config)
        network = ToyNetwork(self.space.inputs, widths, self.space.arguments["num_classes"])
        network.load_state_dict({**{name: value.clone() for name, value in self.state_dict().items()
                                    if name.startswith("head.bias")},
                                 "head.weight": self.head.weight[:, :widths[-1]].clone(),
                                 **{f"layers.{i}.weight": self.layers[i].weight[:w, :network.layers[i].in_features].clone()
                                    for i, w in enumerate(widths)},
                                 **{f"layers.{i}.bias": self.layers[i].bias[:w].clone() for i, w in enumerate(widths)},
                                 **{f"norms.{i}.{key}": value.clone() for i, w in enumerate(widths)
                                    for key, value in self.norms[i].sliced_state(w).items()}})
        return network.eval()


@register_space("toy_plugin_mlp")
class ToySpace(SearchSpace):
    """A two-layer elastic MLP with BatchNorm, defined in a test file."""

    calibration_samples = 128  # its BatchNorm statistics are re-estimated per sub-network

    def __init__(self, image_size=8, in_channels=1, num_classes=10):
        super().__init__(image_size=image_size, in_channels=in_channels, num_classes=num_classes)
        self.inputs = in_channels * image_size * image_size
        self.choices = {"depth": Choice("depth", (1, 2)), "width": Choice("width", (8, 16, 24, 32, 48, 64))}

    def widths(self, config):
        config = self.canonical(config)
        return [config["width"]] * config["depth"]

    @property
    def input_shape(self):
        return (self.arguments["in_channels"], self.arguments["image_size"], self.arguments["image_size"])

    def build_supernet(self):
        return ToySupernet(self)

    def cost_features(self, config):
        widths, sizes = self.widths(config), None
        sizes = [self.inputs, *widths, self.arguments["num_classes"]]
        macs = sum(a * b for a, b in zip(sizes, sizes[1:]))
        return {"macs": float(macs), "params": float(macs + sum(sizes[1:]) + 2 * sum(widths)),
                "num_blocks": float(len(widths))}


def test_nas_has_no_family_specific_branches():
    for path in NAS.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#")[0]
            assert not re.search(r"""(==|!=|\bin\b)\s*[\(\[{]?\s*["'](vit|mbv3|text_encoder|nb201|ofa_mbv3)["']""", code), \
                f"{path.name}:{number}: {line.strip()}"


def test_a_family_registered_in_a_test_file_runs_the_whole_pipeline(tmp_path):
    profile = tmp_path / "fast.yaml"
    profile.write_text("name: fast-cpu\nbackend: onnxruntime\nwarmup_ms: 5\nwarmup_runs: 2\nmin_repeats: 5\n"
                       "min_time_ms: 10\nmax_retries: 0\n")
    run = tmp_path / "run"
    record = pipeline.train(run, dataset="digits", space="toy_plugin_mlp", profile_name=str(profile),
                            training=TrainingConfig(epochs=2, threads=2), progress=False)
    assert record["val_accuracy_largest"] > 0.5  # chance is 0.1; BatchNorm recalibrated through the hook
    measured = pipeline.profile(run, str(profile), count=8, progress=False)
    assert len(measured) == 8
    pipeline.fit(run, model="ridge", progress=False)
    front = pipeline.search(run, SearchConfig(trials=12), progress=False)
    assert front
    cards = pipeline.export(run, progress=False)
    assert len(cards) == len(front)
    for card in cards:
        assert card["space"]["name"] == "toy_plugin_mlp"
        assert card["verified"], card
        assert card["test_accuracy_torch"] == card["test_accuracy_onnxruntime"]
    assert max(card["test_accuracy_torch"] for card in cards) > 0.5
    assert json.loads((run / "run.json").read_text())["space"] == "toy_plugin_mlp"
