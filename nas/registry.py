"""`Registry`: the one plugin registry of hwnas, used by every plugin family.

Spaces, predictors, backends, int8 schemes, samplers, export formats, data sets and profiling strategies
each keep one `Registry`. A plugin registers itself where its package is imported::

    SPACES = Registry("search space")

    @SPACES.register("vit")
    class VitSpace(SearchSpace): ...

    SPACES.names()            # ['mbv3', 'nb201', 'vit', ...] (sorted)
    SPACES.get("vit")         # the class (or function) registered as "vit"
    SPACES.create("vit", depth=...)   # get("vit")(depth=...)

One behaviour everywhere: registering a second, different object under a taken name raises; an unknown
name raises `RegistryError` naming the family and the known names (one line, exit 2 from the CLI). This
module imports nothing of hwnas, so every package may use it (it is the one module below them all).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

Plugin = TypeVar("Plugin")


class RegistryError(ValueError):
    """An unknown plugin name, a name registered twice, or arguments a plugin does not take."""


class Registry(Generic[Plugin]):
    """Named plugins of one family, in registration order.

    `family` names the family in messages ("search space", "export format"). `attribute`: the attribute set
    on a registered class or function to its name ("name" by default), so a plugin knows what it is called.
    `base`: when given, only subclasses of it may register.
    """

    def __init__(self, family: str, attribute: str = "name", base: type | None = None) -> None:
        self.family, self.attribute, self.base = family, attribute, base
        self._plugins: dict[str, Plugin] = {}

    def register(self, name: str, **attributes: Any) -> Callable[[Plugin], Plugin]:
        """Decorator: register the class or function under `name`; `attributes` (e.g. a `description`) are
        set on it too."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.family} needs a non-empty string name, got {name!r}")

        def decorate(plugin: Plugin) -> Plugin:
            if self.base is not None and not (isinstance(plugin, type) and issubclass(plugin, self.base)):
                raise RegistryError(f"{self.family} {name!r} must be a subclass of {self.base.__name__}, got {plugin!r}")
            existing = self._plugins.get(name)
            if existing is not None and existing is not plugin:
                raise RegistryError(f"{self.family} {name!r} is already registered by "
                                    f"{getattr(existing, '__qualname__', existing)!s}")
            setattr(plugin, self.attribute, name)
            for key, value in attributes.items():
                setattr(plugin, key, value)
            self._plugins[name] = plugin
            return plugin

        return decorate

    def unregister(self, name: str) -> None:
        """Remove `name` (for tests that register a throwaway plugin)."""
        self.get(name)
        del self._plugins[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._plugins)

    def in_order(self) -> list[str]:
        """The registered names in registration order (where order matters, e.g. the order files are written)."""
        return list(self._plugins)

    def get(self, name: str) -> Plugin:
        """The plugin registered as `name`; RegistryError listing the known names if there is none."""
        try:
            return self._plugins[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            raise RegistryError(f"unknown {self.family} {name!r}; known: {', '.join(self.names())}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`get(name)(*args, **kwargs)`; a keyword the plugin does not take raises RegistryError naming it."""
        plugin = self.get(name)
        try:
            return plugin(*args, **kwargs)
        except TypeError as error:
            if error.__traceback__ is not None and error.__traceback__.tb_next is not None:
                raise  # raised inside the plugin (a bug), not by binding the arguments: let it surface
            raise RegistryError(f"{self.family} {name!r}: {error}") from None

    def describe(self, name: str) -> str:
        """One line about the plugin: its `description`, else its docstring's first line."""
        plugin = self.get(name)
        text = getattr(plugin, "description", "") or (plugin.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._plugins)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self.names())})"
