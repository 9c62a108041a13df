"""Errors for bad user input. The CLI prints these as one line and exits with status 2.

Raise them at the boundary (config files, CSV files, CLI arguments) *before* any work starts,
with a message that names the file / column / row / field and the allowed range.
"""


class InputError(ValueError):
    """Base class: something the user supplied is wrong (not a bug in synprune)."""


class ConfigError(InputError):
    """A spec, config file or CLI argument is invalid."""


class DataError(InputError):
    """A data file is missing, corrupt or unusable for the requested windows."""
