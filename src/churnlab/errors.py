"""Exceptions for expected user mistakes; the CLI prints them as one line, no traceback."""


class UserError(Exception):
    """A problem in the user's data or configuration, with a message naming file/column/reason."""


class ConfigError(UserError):
    """A bad params.yaml, hypotheses file or other configuration."""
