"""Errors raised by hw_profiles; each message is one line naming the thing at fault and what is allowed."""


class ProfileError(ValueError):
    """A hardware profile (or a backend it names) is invalid or unusable here.

    Example: ``profile 'x.yaml': field 'threads' must be a positive integer, got 'abc'``.
    """


class StoreError(ValueError):
    """A measurement store file cannot be used (not SQLite, foreign schema, unreadable)."""
