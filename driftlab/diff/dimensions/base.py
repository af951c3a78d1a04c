"""A named behavior dimension: a cheap function of one text, and how to say its shift in words.

Dimensions are a registry like monitors: the built-ins live in `builtin.py`; a user adds one
in a Python file that registers it (`DIMENSIONS.register(Dimension(...))`) and names the
file with `driftlab diff --dimensions-file FILE` (or `dimension_files` in the settings); an
installed package registers its own through a "driftlab.dimensions" entry point.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from driftlab.errors import DriftlabError
from driftlab.registry import BUILTIN, PluginError, plugins

Scale = Literal["proportion", "continuous"]


@dataclass(frozen=True)
class Dimension:
    """`measure(text)` is 0/1 for a proportion (does the text do it?) and any real for a
    continuous dimension. Words: a proportion says "B's answers {does} more often: 18% vs 2%";
    a continuous one "B's answers are {higher}/{lower}: {summary} 22 vs 55 {unit}"."""

    name: str
    scale: Scale
    measure: Callable[[str], float]
    does: str = ""  # proportion: what a text does, e.g. "refuse the request"
    higher: str = ""  # continuous: B's values are higher, e.g. "longer"
    lower: str = ""  # continuous: e.g. "shorter"
    unit: str = ""  # continuous: e.g. "words"
    summary: Literal["median", "mean"] = "median"  # the statistic the sentence quotes
    fmt: str = ".0f"  # how that statistic is printed
    doc: str = ""  # one line: what it measures and how (default: `measure`'s docstring)

    def __post_init__(self) -> None:
        if not self.doc:
            object.__setattr__(self, "doc", (self.measure.__doc__ or "").strip())
        if self.scale == "proportion" and not self.does:
            raise ValueError(f"dimension {self.name!r}: a proportion needs `does`")
        if self.scale == "continuous" and not (self.higher and self.lower):
            raise ValueError(f"dimension {self.name!r}: a continuous one needs `higher`/`lower`")


class DimensionRegistry:
    """Dimensions by name, in registration order (a name registered twice is an error).

    Other installed packages add dimensions as "driftlab.dimensions" entry points (NAME =
    "pkg.module:DIM", a Dimension named NAME), read the first time a name is missing or all
    are listed. A plugin's dimension is tested only where it is named (`--dimensions
    default,NAME`): installing a package does not change what a diff without it measures.
    """

    group = "driftlab.dimensions"

    def __init__(self) -> None:
        self._items: dict[str, Dimension] = {}
        self._plugin: dict[str, str] = {}  # name -> the package that registered it
        self._plugins_read = False

    def register(self, dim: Dimension) -> Dimension:
        if dim.name in self._items:
            raise ValueError(f"diff dimension {dim.name!r} is registered twice")
        self._items[dim.name] = dim
        return dim

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        found = plugins(self.group, "driftlab.diff.dimensions.Dimension", _is_dimension)
        try:
            for name, obj, package in found:
                dim = cast(Dimension, obj)  # _is_dimension said so
                if dim.name != name:
                    raise PluginError(
                        f"plugin package {package!r}: entry point {name!r} in {self.group} "
                        f"names the dimension {dim.name!r}; the two names must agree"
                    )
                if name in self._items:
                    whose = self._plugin.get(name)
                    raise PluginError(
                        f"plugin package {package!r} registers the diff dimension {name!r}, "
                        "which clashes with "
                        + (f"package {whose!r}'s" if whose else "a built-in one")
                        + f"; rename its entry point in {self.group} or uninstall {package}"
                    )
                self._items[name], self._plugin[name] = dim, package
        except PluginError:
            self._plugins_read = False
            raise

    def names(self) -> list[str]:
        """Every registered name, plugins' included."""
        self._read_plugins()
        return list(self._items)

    def origin(self, name: str) -> str:
        """Who registered `name`: "driftlab" (or a dimension file) or the plugin's package."""
        self.get(name)
        return self._plugin.get(name, BUILTIN)

    def defaults(self) -> list[str]:
        """What a diff tests unless told: the built-ins and this process's dimension files."""
        return [n for n in self._items if n not in self._plugin]

    def get(self, name: str) -> Dimension:
        if name not in self._items:
            self._read_plugins()
        if name not in self._items:
            raise DriftlabError(
                f"unknown diff dimension {name!r}; choose from: {', '.join(self.names())}"
            )
        return self._items[name]

    def select(self, names: list[str] | None) -> list[Dimension]:
        """The named dimensions (None: the defaults; the name "default" stands for them)."""
        wanted = ["default"] if names is None else names
        expanded = [d for n in wanted for d in (self.defaults() if n == "default" else [n])]
        return [self.get(n) for n in dict.fromkeys(expanded)]


def _is_dimension(obj: object) -> bool:
    return isinstance(obj, Dimension)


DIMENSIONS = DimensionRegistry()


def load_files(paths: list[str]) -> None:
    """Import user files that register dimensions (each once per process)."""
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise DriftlabError(f"dimensions file {p} does not exist")
        mod = f"driftlab_user_dimensions_{abs(hash(str(path.resolve())))}"
        if mod in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(mod, path)
        if spec is None or spec.loader is None:
            raise DriftlabError(f"dimensions file {p} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # a user's file: say which one failed and why, not a traceback
            del sys.modules[mod]
            raise DriftlabError(f"dimensions file {p} failed to load: {e}") from e
