"""`nas.registry.Registry`, the one registry class of every plugin family, and the promise it makes: a
plugin registered anywhere is found by name, and the family's contract (the check functions of the other
files in tests/contracts/) holds for it.

The first half tests the class itself. The second half registers a minimal throwaway plugin in each of
the eight families, sees it in `names()`, creates it, runs that family's contract check on it and
unregisters it: the contract tests do check a plugin nobody listed, and `unregister` leaves no trace.
"""

from pathlib import Path

import numpy as np
import pytest

from hw_profiles.backends.registry import BACKENDS
from nas.data import DATASETS
from nas.export.formats import FORMATS
from nas.profiling.strategies import STRATEGIES, random_configs
from nas.registry import Registry, RegistryError
from nas.search.samplers import SAMPLERS, SamplerContext, create_sampler
from predictors.registry import PREDICTORS
from search_spaces.quantization.scheme import SCHEMES, create_scheme
from search_spaces.registry import SPACES
from test_backend_contract import check_backend
from test_dataset_contract import check_dataset
from test_export_format_contract import check_export_format
from test_predictor_contract import check_predictor
from test_sampler_contract import check_sampler
from test_scheme_contract import check_scheme
from test_space_contract import SMALL_ARGUMENTS, check_space
from test_strategy_contract import check_strategy

FAMILIES = {"search space": SPACES, "predictor": PREDICTORS, "backend": BACKENDS, "int8_scheme": SCHEMES,
            "sampler": SAMPLERS, "export format": FORMATS, "dataset": DATASETS, "profiling strategy": STRATEGIES}
THROWAWAY = "contract-throwaway"  # the name every throwaway plugin registers under


class Base:
    """A base class for the base-class check."""


class Plugin(Base):
    """A plugin with a keyword argument.

    More text that describe() leaves out."""

    def __init__(self, size: int = 1) -> None:
        self.size = size


class Broken(Base):
    """A plugin whose own code raises TypeError (a bug in it, not a wrong argument)."""

    def __init__(self) -> None:
        len(5)


# ---------------------------------------------------------------------------------------------- the class
def test_names_are_sorted_and_in_order_is_registration_order():
    registry = Registry("widget")
    for name in ("b", "c", "a"):
        registry.register(name)(type(name, (), {}))
    assert registry.names() == ["a", "b", "c"] == list(registry) and registry.in_order() == ["b", "c", "a"]
    assert len(registry) == 3 and "a" in registry and "z" not in registry and 3 not in registry
    assert repr(registry) == "Registry('widget': a, b, c)"


def test_register_sets_the_name_attribute_and_the_attributes_given():
    registry = Registry("widget", attribute="registered_name")
    plugin = type("Described", (Plugin,), {})  # the attributes are set on the class: not on the shared Plugin
    registry.register("plugin", description="one line")(plugin)
    assert registry.get("plugin") is plugin and plugin.registered_name == "plugin" and plugin.description == "one line"


def test_the_same_object_twice_is_fine_a_different_one_under_a_taken_name_raises():
    registry = Registry("widget")
    registry.register("plugin")(Plugin)
    registry.register("plugin")(Plugin)  # a module imported twice registers the same class again
    with pytest.raises(RegistryError, match="widget 'plugin' is already registered by Plugin"):
        registry.register("plugin")(Broken)
    assert registry.get("plugin") is Plugin


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_name_must_be_a_non_empty_string(name):
    with pytest.raises(RegistryError, match="needs a non-empty string name"):
        Registry("widget").register(name)


def test_an_unknown_name_is_one_line_listing_the_known_names():
    registry = Registry("widget")
    registry.register("alpha")(Plugin)
    registry.register("beta")(Broken)
    for name in ("gamma", ["unhashable"]):
        with pytest.raises(RegistryError) as error:
            registry.get(name)
        assert str(error.value) == f"unknown widget {name!r}; known: alpha, beta"


def test_create_wraps_a_bad_keyword_but_lets_a_type_error_inside_the_plugin_through():
    registry = Registry("widget")
    registry.register("plugin")(Plugin)
    registry.register("broken")(Broken)
    assert registry.create("plugin", size=3).size == 3
    with pytest.raises(RegistryError, match="widget 'plugin': .*colour"):
        registry.create("plugin", colour="red")
    with pytest.raises(TypeError, match="has no len"):  # a bug in the plugin is not reported as a bad argument
        registry.create("broken")


def test_unregister_removes_and_an_unknown_name_raises():
    registry = Registry("widget")
    registry.register("plugin")(Plugin)
    registry.unregister("plugin")
    assert registry.names() == [] and "plugin" not in registry
    with pytest.raises(RegistryError, match="unknown widget 'plugin'"):
        registry.unregister("plugin")
    registry.register("plugin")(Broken)  # the name is free again
    assert registry.get("plugin") is Broken


def test_a_base_class_admits_only_its_subclasses():
    registry = Registry("widget", base=Base)
    registry.register("plugin")(Plugin)
    for outsider in (int, lambda: None):
        with pytest.raises(RegistryError, match="widget 'other' must be a subclass of Base"):
            registry.register("other")(outsider)
    assert registry.names() == ["plugin"]


def test_describe_is_the_description_else_the_first_docstring_line():
    registry = Registry("widget")
    registry.register("plugin")(Plugin)
    registry.register("described", description="said here\nnot this")(Broken)
    registry.register("silent")(type("Silent", (), {}))
    assert registry.describe("plugin") == "A plugin with a keyword argument."
    assert registry.describe("described") == "said here" and registry.describe("silent") == ""


def test_every_family_keeps_one_registry_with_plugins():
    for family, registry in FAMILIES.items():
        assert isinstance(registry, Registry) and registry.family == family and len(registry) > 0
        with pytest.raises(RegistryError, match=f"unknown {family} 'nope'; known: "):
            registry.get("nope")


# ---------------------------------------------------------------------------------------------- throwaways
def registered(registry: Registry, plugin, **attributes):
    """Register `plugin` as THROWAWAY (it must not be registered already) and return it."""
    assert THROWAWAY not in registry.names()
    registry.register(THROWAWAY, **attributes)(plugin)
    assert THROWAWAY in registry.names() and registry.get(THROWAWAY) is plugin
    return plugin


def test_a_throwaway_space_keeps_the_space_contract(tmp_path, monkeypatch):
    monkeypatch.setitem(SMALL_ARGUMENTS, THROWAWAY, SMALL_ARGUMENTS["vit"])
    registered(SPACES, type("ThrowawaySpace", (SPACES.get("vit"),), {}))
    try:
        assert SPACES.create(THROWAWAY, **SMALL_ARGUMENTS["vit"]).name == THROWAWAY
        check_space(THROWAWAY, tmp_path, seeds=1)
    finally:
        SPACES.unregister(THROWAWAY)
    assert THROWAWAY not in SPACES.names()


class ThrowawayPredictor(PREDICTORS.get("ridge")):
    """Ridge under another name (module level, so a saved one can be unpickled)."""


def test_a_throwaway_predictor_keeps_the_predictor_contract(tmp_path):
    registered(PREDICTORS, ThrowawayPredictor)
    try:
        assert isinstance(PREDICTORS.create(THROWAWAY, space="vit"), ThrowawayPredictor)
        check_predictor(THROWAWAY, tmp_path)
    finally:
        PREDICTORS.unregister(THROWAWAY)
    assert THROWAWAY not in PREDICTORS.names()


def test_a_throwaway_backend_keeps_the_backend_contract(tmp_path):
    registered(BACKENDS, type("ThrowawayBackend", (BACKENDS.get("onnxruntime"),), {}))
    try:
        assert check_backend(THROWAWAY, tmp_path) == "measured"
    finally:
        BACKENDS.unregister(THROWAWAY)
    assert THROWAWAY not in BACKENDS.names()


def test_a_throwaway_scheme_keeps_the_scheme_contract(tmp_path):
    registered(SCHEMES, type("ThrowawayScheme", (SCHEMES.get("ort-dynamic"),), {}))
    try:
        assert create_scheme(THROWAWAY).name == THROWAWAY
        check_scheme(THROWAWAY, tmp_path)
    finally:
        SCHEMES.unregister(THROWAWAY)
        create_scheme.cache_clear()  # create_scheme keeps one instance per name
    assert THROWAWAY not in SCHEMES.names()


def throwaway_sampler(context: SamplerContext):
    import optuna

    return optuna.samplers.RandomSampler(seed=context.seed)


def test_a_throwaway_sampler_keeps_the_sampler_contract():
    registered(SAMPLERS, throwaway_sampler, description="uniform random, registered by a test")
    try:
        assert type(create_sampler(THROWAWAY)).__name__ == "RandomSampler"
        assert SAMPLERS.describe(THROWAWAY) == "uniform random, registered by a test"
        assert check_sampler(THROWAWAY) == "searched"
    finally:
        SAMPLERS.unregister(THROWAWAY)
    assert THROWAWAY not in SAMPLERS.names()


def test_a_throwaway_export_format_keeps_the_export_contract(trained_digits_run, tmp_path):
    onnx_format = FORMATS.get("onnx")
    registered(FORMATS, type("ThrowawayFormat", (onnx_format,), {"suffix": ".throwaway.onnx"}))
    try:
        assert FORMATS.in_order()[-1] == THROWAWAY and FORMATS.create(THROWAWAY).per_model
        assert check_export_format(THROWAWAY, trained_digits_run, tmp_path) == "exported"
        assert list(tmp_path.glob("*.throwaway.onnx"))
    finally:
        FORMATS.unregister(THROWAWAY)
    assert THROWAWAY not in FORMATS.names() and FORMATS.get("onnx") is onnx_format


def test_a_throwaway_dataset_keeps_the_dataset_contract():
    def load_throwaway():
        """The digits, under another name."""
        return DATASETS.get("digits")()

    registered(DATASETS, load_throwaway)
    try:
        assert DATASETS.create(THROWAWAY).num_classes == 10
        assert check_dataset(THROWAWAY) == "loaded"
    finally:
        DATASETS.unregister(THROWAWAY)
    assert THROWAWAY not in DATASETS.names()


def test_a_throwaway_strategy_keeps_the_strategy_contract():
    def throwaway_configs(space, count, seed):
        """The uniform strategy, under another name."""
        return random_configs(space, count, seed)

    registered(STRATEGIES, throwaway_configs)
    try:
        space = SPACES.create("vit", image_size=8)
        assert len(STRATEGIES.create(THROWAWAY, space, 3, np.int64(0))) == 3
        check_strategy(THROWAWAY)
    finally:
        STRATEGIES.unregister(THROWAWAY)
    assert THROWAWAY not in STRATEGIES.names()


def test_the_contract_files_are_here():
    """Each family has its contract file beside this one (a family added later needs one too)."""
    here = Path(__file__).parent
    for contract in ("space", "predictor", "backend", "scheme", "sampler", "export_format", "dataset", "strategy"):
        assert (here / f"test_{contract}_contract.py").is_file(), contract
