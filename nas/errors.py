"""The error every user-facing failure of `nas` raises: one line, exit code 2 from the CLI."""


class HwnasError(ValueError):
    """Bad input or a broken artifact: the message names the field or file and what is allowed."""
