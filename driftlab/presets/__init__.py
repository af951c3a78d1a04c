"""Shipped configs, one folder per kind of config: run/NAME.toml (`driftlab run`), w2s/NAME.toml
(`driftlab w2s`). A command reads only its own kind; a name of another kind gets a message
naming the command that runs it. The old flat names (`w2s-quick`) still resolve to w2s/quick."""

from __future__ import annotations

from importlib import resources

from driftlab.errors import ConfigError

COMMANDS = {"run": "driftlab run", "w2s": "driftlab w2s"}  # kind -> the command that reads it


def names(kind: str) -> list[str]:
    """The presets of `kind`, by name."""
    root = resources.files(__name__).joinpath(kind)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def find(kind: str, name: str) -> str | None:
    """The preset of `kind` that `name` means: itself, or `NAME` for the old flat `KIND-NAME`."""
    shipped = names(kind)
    for candidate in (name, name.removeprefix(f"{kind}-")):
        if candidate in shipped:
            return candidate
    return None


def read(kind: str, name: str) -> tuple[str, str]:
    """(TOML text, where it came from) of the preset `name` of `kind`; one ConfigError if none."""
    found = find(kind, name)
    if found is None:
        for other, command in COMMANDS.items():
            if other != kind and (theirs := find(other, name)) is not None:
                raise ConfigError(
                    f"{name} is a {other} preset: run it with {command} --preset {theirs}"
                )
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(names(kind))}")
    text = resources.files(__name__).joinpath(kind, f"{found}.toml").read_text()
    return text, f"preset {kind}/{found}"
