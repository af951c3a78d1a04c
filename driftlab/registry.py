"""Name -> object registries: a new loop, monitor, task, trainer, sampler or judge prompt is one
file plus one `@REGISTRY.register(name)` line.

Another installed package adds entries through Python entry points (as inspect_ai does): in
its pyproject.toml, `[project.entry-points."driftlab.monitors"] NAME = "pkg.module:Object"`.
A registry with a `group` reads its entry points once, the first time it is asked for a name
it lacks or for its names, so importing driftlab imports no plugin. A plugin that fails to
import, names the wrong kind of object, or takes a name already registered is one
PluginError naming its package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from driftlab.errors import ConfigError, DriftlabError

T = TypeVar("T")

BUILTIN = "driftlab"  # the origin of what driftlab itself (or a user's file) registers


class PluginError(DriftlabError):
    """An installed plugin package cannot be used; the message names the package."""


def _package(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "an unknown package"


def plugins(
    group: str, kind: str, check: Callable[[object], bool]
) -> Iterator[tuple[str, object, str]]:
    """(name, object, package) of each entry point in `group`, loaded; one PluginError for the
    first that fails to import or is not a `kind` (`check`)."""
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        package = _package(ep)
        where = f"plugin package {package!r} ({group}: {ep.name} = {ep.value!r})"
        try:
            obj = ep.load()
        except Exception as e:  # someone else's code: say whose and why, not a traceback
            raise PluginError(f"{where} failed to load: {type(e).__name__}: {e}") from e
        if not check(obj):
            raise PluginError(f"{where} does not name a {kind}")
        yield ep.name, obj, package


class Registry(Generic[T]):
    """A named collection of factories with a helpful error for unknown names.

    `group` is the entry-point group other packages register into (None: none); `check` says
    whether a plugin's object is of the right kind (a class with a Config, a callable, ...).
    """

    def __init__(
        self, kind: str, group: str | None = None, check: Callable[[object], bool] = callable
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._plugins_read = group is None

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name], self._origin[name] = obj, BUILTIN
            return obj

        return deco

    def _read_plugins(self) -> None:
        if self._plugins_read or self.group is None:
            return
        self._plugins_read = True  # a plugin that lists this registry while loading: no loop
        before = set(self._items)
        try:
            for name, obj, package in plugins(self.group, self.kind, self._check):
                if name not in before and self._items.get(name) is obj:
                    self._origin[name] = package  # its module used the decorator as well
                    continue
                if name in self._items:
                    other = self._origin[name]
                    whose = "a built-in one" if other == BUILTIN else f"package {other!r}'s"
                    raise PluginError(
                        f"plugin package {package!r} registers the {self.kind} {name!r}, which "
                        f"clashes with {whose}; rename its entry point in {self.group} or "
                        f"uninstall {package}"
                    )
                self._items[name], self._origin[name] = cast(T, obj), package  # `check` said so
        except PluginError:
            self._plugins_read = False  # the next lookup says it again
            raise

    def get(self, name: str) -> T:
        if name not in self._items:
            self._read_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """Every registered name, plugins' included."""
        self._read_plugins()
        return sorted(self._items)

    def builtin_names(self) -> list[str]:
        """The names driftlab (or a user's file, in this process) registered: no plugin's.

        Reads the plugins all the same, so a broken one is reported where defaults are chosen.
        """
        self._read_plugins()
        return sorted(n for n in self._items if self._origin[n] == BUILTIN)

    def origin(self, name: str) -> str:
        """Who registered `name`: "driftlab" or the plugin package's name."""
        self.get(name)
        return self._origin[name]

    def __contains__(self, name: str) -> bool:
        if name not in self._items:
            self._read_plugins()
        return name in self._items
