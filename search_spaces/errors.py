"""Errors raised by search spaces: one line, naming the key and what is allowed."""


class ConfigError(ValueError):
    """An architecture config (or a space's arguments) is not valid for a space."""
