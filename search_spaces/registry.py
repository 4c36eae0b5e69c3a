"""Registry of search spaces: `@register_space("vit")` and `create_space("vit", **arguments)`."""

from __future__ import annotations

from nas.registry import Registry
from search_spaces.space import SearchSpace

SPACES: Registry[type[SearchSpace]] = Registry("search space", base=SearchSpace)

register_space = SPACES.register
space_names = SPACES.names
space_class = SPACES.get
# Build the space `name`; an unknown name or argument raises RegistryError, a bad value ConfigError.
create_space = SPACES.create
