"""What can be searched: spaces of named choices and their weight-sharing supernets."""

from search_spaces.errors import ConfigError
from search_spaces.registry import SPACES, create_space, register_space, space_class, space_names
from search_spaces.space import Choice, SearchSpace
from search_spaces import mbv3, nb201, ofa_mbv3, text_encoder, vit  # noqa: F401  (registers each space)

__all__ = ["SPACES", "Choice", "ConfigError", "SearchSpace", "create_space", "register_space", "space_class", "space_names"]
