"""Training one sub-network on its own, through the supernet training loop.

`train_supernet` trains whatever a space's `build_supernet` returns with the sandwich rule. A space of one
network (`OneNetworkSpace`) makes that loop train a single static network: its largest and smallest
network are the same one, no random sub-networks are drawn (`random_subnets` 0) and the largest-only phase
lasts the whole run (`largest_only_fraction` 1), so every step is the run's recipe (AdamW, warm-up and cosine
decay, label smoothing, augmentation, gradient clip, mixed precision on CUDA) on the labels alone. The
checkpoint after every epoch, and resuming from it, come with the loop.

`hwnas audit` trains networks this way from scratch (`space.build_network(config)`: fresh weights) and
fine-tunes them from the weights they inherit from the supernet.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from nas.data import Dataset
from nas.training.train import TrainingConfig, train_supernet


class OneNetworkSpace:
    """The space of one network, for `train_supernet`: `build_supernet` returns the network (from
    `make_network()`, called after the loop seeds torch) wrapped to accept and ignore a config.
    `identity` (JSON-able) is what its checkpoint must match to be resumed."""

    name = "standalone"
    calibration_samples = 0  # a network trained alone has BatchNorm statistics of its own

    def __init__(self, config: Mapping[str, Any], make_network: Callable[[], Any], identity: Mapping[str, Any]):
        self.config, self.make_network, self.arguments = dict(config), make_network, dict(identity)

    def build_supernet(self) -> Any:
        return _accepting_a_config(self.make_network())

    def largest(self) -> dict:
        return dict(self.config)

    smallest = largest

    def sample(self, rng: Any = None) -> dict:
        return dict(self.config)

    def config_id(self, config: Mapping[str, Any]) -> str:
        return str(self.arguments.get("config_id", "network"))


def _accepting_a_config(network: Any) -> Any:
    """`network` in a module whose forward takes (inputs, config) as a supernet's does."""
    import torch

    class OneNetwork(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.network = inner

        def forward(self, inputs: Any, config: Any = None) -> Any:
            return self.network(inputs)

    return OneNetwork(network)


def standalone_recipe(settings: Mapping[str, Any], epochs: int, device: str) -> TrainingConfig:
    """The run's training recipe (the `training` record of its supernet checkpoint) for one network trained
    alone: `epochs` epochs on `device`, no sub-networks sampled, the labels all the way."""
    known = {field.name for field in fields(TrainingConfig)}
    recipe = TrainingConfig(**{key: value for key, value in settings.items() if key in known})
    return replace(recipe, epochs=epochs, device=device, random_subnets=0, largest_only_fraction=1.0)


def train_network(config: Mapping[str, Any], make_network: Callable[[], Any], identity: Mapping[str, Any],
                  dataset: Dataset, checkpoint_path: Path, recipe: TrainingConfig,
                  progress: bool = True) -> tuple[Any, dict]:
    """Train (or resume training) the network `make_network()` alone with `recipe`; returns (the trained
    network in eval mode, on the recipe's device, and the final checkpoint dict)."""
    from nas.models.device import resolve_device

    space = OneNetworkSpace(config, make_network, identity)
    state = train_supernet(space, dataset, Path(checkpoint_path), recipe, resume=True, progress=progress)
    wrapper = space.build_supernet()
    wrapper.load_state_dict(state["model"])
    return wrapper.network.to(resolve_device(recipe.device)).eval(), state
