"""Name -> object registries: a new loop, monitor, task, trainer, sampler or judge prompt is one
file plus one `@REGISTRY.register(name)` line. Model backends are chosen by spec prefix
instead (`register_backend` in models/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from driftlab.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories with a helpful error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
