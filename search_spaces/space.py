"""`SearchSpace`: a set of named choices, and the verbs every space shares.

A config is a flat, JSON-serialisable dict with spelled-out keys (``{"depth": 4, "embed_dim": 96,
"block0.num_heads": 2, ...}``). The same keys are Optuna parameter names, CSV columns, predictor
features and model-card fields. ``canonical`` sets the choices of inactive layers to a fixed value, so
equal networks have equal dicts and an equal ``config_id``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from search_spaces.errors import ConfigError


@dataclass(frozen=True)
class Choice:
    """One searchable dimension."""

    name: str  # the config key, e.g. "block3.num_heads"
    values: tuple  # allowed values, ascending: values[0] is the smallest, values[-1] the largest
    help: str = ""  # one line for `hwnas spaces`

    @property
    def lookup(self) -> dict:
        """Each allowed value keyed by itself (equal numbers hash equally: 2 finds 2.0)."""
        table = self.__dict__.get("_lookup")
        if table is None:
            table = {}
            for value in self.values:
                table.setdefault(value, value)
            object.__setattr__(self, "_lookup", table)
        return table

    def describe(self) -> str:
        return ", ".join(str(value) for value in self.values)


def _stable_digest(data: Any, length: int) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:length]


class SearchSpace:
    """Base class of every space. Subclasses set `choices` in `__init__` and may override
    `inactive_keys`, `functional_config`, and (spaces with a supernet) `build_supernet`, `build_network`,
    `input_shape` and `cost_features`."""

    name: str = "abstract"  # set by @register_space
    version: str = "1"  # bump when the meaning of a config or of the weights changes
    supports_precisions: bool = False  # True: takes `precisions` and `int8_scheme` arguments (per-layer precision)
    analytic_features: tuple[str, ...] | None = None  # cost features a latency model is affine in (None: its default)
    # Training samples on which an extracted sub-network's normalisation statistics are re-estimated
    # (`calibrate`) before it is evaluated or exported; 0: its statistics are valid as extracted.
    calibration_samples: int = 0

    def __init__(self, **arguments: Any) -> None:
        self.arguments = dict(arguments)  # JSON-serialisable: recorded in checkpoints and cards
        self.choices: dict[str, Choice] = {}
        # Keys of a richer space that this one accepts and drops (a config of that space is a config of
        # this one): key -> the Choice whose values are accepted. Other values are refused.
        self.ignored_choices: dict[str, Choice] = {}

    # ------------------------------------------------------------------ identity
    @property
    def key(self) -> str:
        """Space name plus a digest of its arguments: measurements are keyed by it."""
        return f"{self.name}-{_stable_digest([self.version, self.arguments], 8)}"

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{type(self).__name__}({arguments})"

    # ------------------------------------------------------------------ configs
    def inactive_keys(self, config: Mapping[str, Any]) -> set[str]:
        """Keys whose choice does not change the network (e.g. blocks beyond the depth)."""
        return set()

    def functional_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config as the network computes it: choices that cannot change its output set to the
        smallest value, so networks computing the same function compare equal. Unlike `canonical`, it
        does not change the config's identity (a table may list such networks apart). Default: the
        canonical config."""
        return self.canonical(config)

    @property
    def has_functional_view(self) -> bool:
        """Whether `functional_config` says more than `canonical` (the space overrides it)."""
        return type(self).functional_config is not SearchSpace.functional_config

    def function_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """Numeric features of the function the network computes, by name (the same names for every
        config), equal for networks that compute the same function however they are wired, for accuracy
        models that must carry what one measurement says to every network like it. Default: none (`{}`);
        models then read the config's choices."""
        return {}

    @property
    def has_function_features(self) -> bool:
        """Whether the space describes its networks' functions (`function_features` is overridden)."""
        return type(self).function_features is not SearchSpace.function_features

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check every key and value; return the config with each value as the space spells it."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"a {self.name} config must be a mapping of choice names to values, "
                              f"got {type(config).__name__}")
        config = self._without_ignored(config)
        unknown = [key for key in config if key not in self.choices]
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r} for space {self.name!r}; "
                              f"known keys: {', '.join(self.choices)}")
        missing = [key for key in self.choices if key not in config]
        if missing:
            raise ConfigError(f"config for space {self.name!r} is missing key {missing[0]!r} "
                              f"(allowed values: {self.choices[missing[0]].describe()})")
        validated = {}
        for key, choice in self.choices.items():
            value = config[key]
            try:  # fast path: equal numbers hash equally (2 and 2.0, numpy scalars); bools never match
                allowed = None if isinstance(value, bool) else choice.lookup.get(value)
            except TypeError:  # an unhashable value matches nothing
                allowed = None
            if allowed is None:
                raise ConfigError(f"config key {key!r} = {value!r} is not allowed; "
                                  f"allowed: {choice.describe()}")
            validated[key] = allowed
        return validated

    def _without_ignored(self, config: Mapping[str, Any]) -> Mapping[str, Any]:
        ignored = [key for key in config if key in self.ignored_choices and key not in self.choices]
        for key in ignored:
            choice = self.ignored_choices[key]
            if isinstance(config[key], bool) or config[key] not in choice.values:
                raise ConfigError(f"config key {key!r} = {config[key]!r} is not allowed; allowed: {choice.describe()} "
                                  f"({choice.help})")
        return {key: value for key, value in config.items() if key not in ignored} if ignored else config

    def canonical(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validated config with inactive choices set to their smallest value."""
        validated = self.validate(config)
        for key in self.inactive_keys(validated):
            validated[key] = self.choices[key].values[0]
        return validated

    def config_id(self, config: Mapping[str, Any]) -> str:
        """Stable 16-hex-digit id of the canonical config."""
        return _stable_digest(self.canonical(config), 16)

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        """A uniformly random canonical config."""
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        config = {key: choice.values[int(generator.integers(len(choice.values)))]
                  for key, choice in self.choices.items()}
        return self.canonical(config)

    def size(self) -> int:
        """How many distinct networks (canonical configs, one per config_id) the space holds, counted
        without listing them (see search_spaces.cardinality); computed once."""
        if "_size" not in self.__dict__:
            from search_spaces.cardinality import count_networks

            self.__dict__["_size"] = count_networks(self)
        return self.__dict__["_size"]

    def sample_distinct(self, count: int, rng: np.random.Generator | int | None = None,
                        include: tuple[Mapping[str, Any], ...] = ()) -> list[dict[str, Any]]:
        """`include` first, then uniformly random configs: `count` distinct networks (by config_id) in all,
        or fewer when the space holds fewer (`size()`), or when 100 * `count` draws find no more."""
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        count = min(count, self.size())
        chosen: dict[str, dict[str, Any]] = {}
        for config in include:
            chosen.setdefault(self.config_id(config), self.canonical(config))
        attempts = 0
        while len(chosen) < count and attempts < 100 * count:
            config = self.sample(generator)
            chosen.setdefault(self.config_id(config), config)
            attempts += 1
        return list(chosen.values())[:count]

    def largest(self) -> dict[str, Any]:
        return self.canonical({key: choice.values[-1] for key, choice in self.choices.items()})

    def smallest(self) -> dict[str, Any]:
        return self.canonical({key: choice.values[0] for key, choice in self.choices.items()})

    def middle(self) -> dict[str, Any]:
        """Every choice at its middle option (the lower of two middles): a network of the space's usual size
        and make-up. Timing protocols run it beside every candidate as their reference, since it slows and
        speeds up with the machine the way the space's networks do."""
        return self.canonical({key: choice.values[(len(choice.values) - 1) // 2] for key, choice in self.choices.items()})

    @property
    def precision_keys(self) -> list[str]:
        """The keys that choose a layer's precision (none in a space without precision choices)."""
        return []

    def at_precision(self, config: Mapping[str, Any], precision: str) -> dict[str, Any]:
        """`config` with every precision choice at `precision` (canonical); ConfigError when the space does
        not offer `precision` (a space with one precision runs every layer at it)."""
        offered = tuple(getattr(self, "precisions", ("fp32",)))
        if precision not in offered:
            raise ConfigError(f"space {self.name!r} does not offer precision {precision!r}; it offers {list(offered)}")
        return self.canonical({**config, **{key: precision for key in self.precision_keys}})

    def precision_sensitivity(self, loss: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
        """How much each block's precision costs the largest network: `loss(config)` of the largest network
        with only one precision key lowered, minus `loss` of the largest network itself, for every key and
        every precision it offers below the largest's. {"baseline_loss": float, "increase": {key:
        {precision: float}}}; no keys, no increases (a space with one precision). `loss` is any measure of
        a config, e.g. the validation loss of the supernet's sub-network (nas.models.sensitivity)."""
        largest = self.largest()
        baseline = float(loss(largest))
        increase = {key: {precision: float(loss(self.canonical({**largest, key: precision}))) - baseline
                          for precision in self.choices[key].values if precision != largest[key]}
                    for key in self.precision_keys}
        return {"baseline_loss": baseline, "increase": increase}

    def anchors(self) -> list[dict[str, Any]]:
        """Configs every search starts from (the corners of the space): the largest and the smallest."""
        return [self.largest(), self.smallest()]

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions, one categorical per choice, named by the config keys."""
        from optuna.distributions import CategoricalDistribution

        return {key: CategoricalDistribution(list(choice.values)) for key, choice in self.choices.items()}

    # ------------------------------------------------------------------ networks
    @property
    def has_supernet(self) -> bool:
        return type(self).build_supernet is not SearchSpace.build_supernet

    def build_supernet(self):
        """The weight-sharing supernet: an nn.Module with `forward(x, config)` and `extract(config)`, and,
        where extraction copies slices, `weight_slices(config)` (see `weight_slice.py`), which lets an
        elastic bundle store the weights its networks share once."""
        raise ConfigError(f"space {self.name!r} has no trainable supernet")

    def build_network(self, config: Mapping[str, Any]):
        """A plain, static nn.Module for `config` with freshly initialised weights."""
        raise ConfigError(f"space {self.name!r} cannot build networks")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample (no batch dimension)."""
        raise ConfigError(f"space {self.name!r} has no input shape")

    @property
    def input_dtype(self) -> str:
        """numpy name of the input's type: "float32" (images, features) or an integer type (token ids)."""
        return "float32"

    @property
    def input_range(self) -> tuple[int, int] | None:
        """For integer inputs, the [low, high) range of valid values (synthetic timing inputs are drawn
        from it); None for float inputs."""
        return None

    def calibrate(self, network: Any, batches: Any) -> None:
        """Prepare an extracted network for evaluation on a few training input batches (an iterable of
        tensors), in place. Called only when `calibration_samples` > 0; the default re-estimates the
        running statistics of every BatchNorm layer."""
        from search_spaces.batch_norm import recalibrate_batch_norm

        recalibrate_batch_norm(network, batches)

    def cost_features(self, config: Mapping[str, Any]) -> dict[str, float]:
        """Analytic costs of the network (MACs, parameters, activation sizes), by name."""
        return {}

    def layer_costs(self, config: Mapping[str, Any]) -> list:
        """One `LayerCost` per layer slot of `config`, inactive slots included, in a fixed order."""
        raise ConfigError(f"space {self.name!r} does not describe its networks layer by layer")

    def layer_kinds(self) -> tuple[str, ...]:
        """Every `LayerCost.kind` that `layer_costs` can return for this space."""
        raise ConfigError(f"space {self.name!r} does not describe its networks layer by layer")

    def config_from_row(self, row: Mapping[str, str]) -> dict[str, Any]:
        """The config of one row of a published benchmark table (columns as strings)."""
        raise ConfigError(f"space {self.name!r} cannot read benchmark table rows")
