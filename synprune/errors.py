"""Errors for bad user input. The CLI prints these as one line and exits with status 2.

Raise them at the boundary (config files, CSV files, CLI arguments) *before* any work starts,
with a message that names the file / column / row / field and the allowed range.

``FieldError`` is the structured form used by component constructors (models, regularizers):
it carries ``field``, ``value`` and ``allowed`` so that the config layer can say *where* the
field came from without parsing the message::

    try:
        create_regularizer("dropout", p=1.2)
    except FieldError as err:
        raise err.with_prefix("configs/x.toml: regularizers.dropout.") from None
    # FieldError: configs/x.toml: regularizers.dropout.p=1.2 is invalid; allowed: a number in [0, 1)
"""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Base class: something the user supplied is wrong (not a bug in synprune)."""


class ConfigError(InputError):
    """A spec, config file or CLI argument is invalid."""


class DataError(InputError):
    """A data file is missing, corrupt or unusable for the requested windows."""


class FieldError(ConfigError):
    """One field has a value outside what is allowed.

    Attributes:
        field: the field's name as the constructor spells it (``"p"``, ``"hidden_size"``).
        value: the offending value (as given).
        allowed: what would be accepted, in words (``"a number in [0, 1)"``).
        prefix: where the field lives, prepended to the message (``""`` unless set by
            :meth:`with_prefix`), e.g. ``"configs/x.toml: regularizers.dropout."``.

    The message is ``f"{prefix}{field}={value!r} is invalid; allowed: {allowed}"``.
    A ``ValueError`` subclass (via ``ConfigError``), picklable (Ray ships errors between
    processes).
    """

    def __init__(self, field: str, value: Any, allowed: str, *, prefix: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.prefix = prefix
        super().__init__(f"{prefix}{field}={value!r} is invalid; allowed: {allowed}")

    def with_prefix(self, prefix: str) -> FieldError:
        """A copy whose message starts with ``prefix`` (before any prefix it already has);
        ``raise err.with_prefix("file.toml: models.lstm.") from None``."""
        return type(self)(self.field, self.value, self.allowed, prefix=prefix + self.prefix)

    @property
    def path(self) -> str:
        """``prefix + field``: the field's full dotted location."""
        return self.prefix + self.field

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_field_error,
            (type(self), self.field, self.value, self.allowed, self.prefix),
        )


def _rebuild_field_error(
    cls: type[FieldError], field: str, value: Any, allowed: str, prefix: str
) -> FieldError:
    return cls(field, value, allowed, prefix=prefix)
