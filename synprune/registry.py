"""One registry shape for models, regularizers and datasets.

A registry maps a name to a factory. Registration happens by explicit imports in each
package's ``__init__`` (never by scanning directories); duplicates are refused so that a
plugin cannot silently replace a built-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from synprune.errors import FieldError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> factory map with a decorator to fill it and ``create`` to call it."""

    def __init__(self, kind: str, *, forbidden: str = "") -> None:
        self.kind = kind
        self.forbidden = forbidden  # characters a registered name may not contain
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``; a second use of a name raises."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        bad = sorted({c for c in name if c in self.forbidden})
        if bad:
            raise ValueError(f"{self.kind} name {name!r} may not contain {''.join(bad)!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered "
                    f"(by {self._factories[name]!r}); pick another name"
                )
            self._factories[name] = factory
            return factory

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register temporary components)."""
        self._factories.pop(name, None)

    def get(self, name: str) -> Callable[..., T]:
        """The factory of ``name``; ``FieldError`` (field = the kind) listing the names."""
        try:
            return self._factories[name]
        except (KeyError, TypeError):
            raise FieldError(
                self.kind, name, f"a registered {self.kind}: {', '.join(self.names())}"
            ) from None

    def refuse_unknown(self, name: str, given: Mapping[str, object], fields: Iterable[str]) -> None:
        """``FieldError`` naming the first key of ``given`` that is not one of ``fields``."""
        known = set(fields)
        unknown = sorted(set(given) - known)
        if unknown:
            raise FieldError(
                unknown[0],
                given[unknown[0]],
                f"a field of {self.kind} {name!r}: {', '.join(sorted(known)) or '(none)'}",
            )

    def create(self, name: str, /, **kwargs: object) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
