"""What can be searched: spaces of named choices and their weight-sharing supernets."""

from search_spaces.errors import ConfigError
from search_spaces.registry import create_space, register_space, space_class, space_names
from search_spaces.space import Choice, SearchSpace
from search_spaces import nb201, ofa_mbv3, vit  # noqa: F401  (registers "nb201", "ofa_mbv3" and "vit")

__all__ = ["Choice", "ConfigError", "SearchSpace", "create_space", "register_space", "space_class", "space_names"]
