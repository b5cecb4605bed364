"""Exceptions for expected user mistakes; the CLI prints them as one line, no traceback."""


class UserError(Exception):
    """A problem in the user's data or configuration, with a message naming file/column/reason."""


class ConfigError(UserError):
    """A bad params.yaml, hypotheses file or other configuration."""


class ConfigWarning(UserWarning):
    """A configuration key no code reads (a typo or an unknown section), reported as one line;
    the CLI prints it once to stderr and carries on."""
