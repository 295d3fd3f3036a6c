"""A tiny explicit registry: methods are added by decorator at import time.

Registries are filled by explicit imports in each subpackage's ``__init__`` and
are read-only afterwards (no folder scanning, no runtime switching).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from allfocus._core.errors import InputError

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """Map names to callables of one family (fusion methods, aligners, ...).

    Parameters
    ----------
    kind : str
        What the registry holds, used in error messages ("fusion method").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, F] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, *, help: str = "") -> Callable[[F], F]:
        """Decorator registering ``func`` under ``name``."""

        def deco(func: F) -> F:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = func
            doc = (func.__doc__ or "").strip().splitlines()
            self._help[name] = help or (doc[0] if doc else "")
            return func

        return deco

    def get(self, name: str) -> F:
        """Return the callable registered as ``name``.

        Raises
        ------
        InputError
            If ``name`` is unknown; the message lists the valid names.
        """
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise InputError(f"unknown {self.kind} {name!r}; choose one of: {valid}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def describe(self, name: str) -> str:
        """One-line description of ``name``."""
        self.get(name)
        return self._help[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
