"""Constitutions: the principles a constitutional loop critiques, revises and compares by.

Bai et al. 2022 (arXiv:2212.08073) steer a model with a short list of natural-language
principles instead of human labels; each critique or comparison samples one principle. A file
is TOML (`[[principles]]` tables) or JSONL (one principle per line), each principle with a
`critique` request and a `revision` request, an optional `comparison` question (RL-CAI) and
an optional `name`. The project ships `driftlab/data/constitutions/default.toml`; every fault
in a user's file is reported with the file (and line, for JSONL) and what is wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from driftlab.errors import DriftlabError
from driftlab.store import parse_jsonl_lines

REQUIRED = ("critique", "revision")
OPTIONAL = ("name", "comparison")


@dataclass(frozen=True)
class Principle:
    name: str
    critique: str
    revision: str
    comparison: str | None = None

    def choice_question(self) -> str:
        """The RL-CAI comparison question; from the critique request if the file has none."""
        return self.comparison or f"Which reply does better on this point: {self.critique}"


@dataclass(frozen=True)
class Constitution:
    name: str
    principles: tuple[Principle, ...]
    source: str


def load_constitution(path: str | Path | None = None) -> Constitution:
    """The shipped default constitution, or the file at `path`; DriftlabError names any fault."""
    if path is None:
        text = (
            resources.files("driftlab.data")
            .joinpath("constitutions/default.toml")
            .read_text("utf-8")
        )
        return _from_toml(text, "shipped constitution default.toml")
    p = Path(path)
    where = f"constitution file {p}"
    if not p.is_file():
        raise DriftlabError(f"{where} does not exist")
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DriftlabError(f"{where} cannot be read: {e}") from None
    if p.suffix == ".toml":
        return _from_toml(text, where)
    if p.suffix in (".jsonl", ".json"):
        return _from_jsonl(text, where, p.stem)
    raise DriftlabError(f"{where}: unknown format {p.suffix!r}; use .toml or .jsonl")


def check_constitution(path: str | None) -> str | None:
    """A pydantic field validator: the constitution loads now, not mid-run."""
    try:
        load_constitution(path)
    except DriftlabError as e:
        raise ValueError(str(e)) from None
    return path


def _from_toml(text: str, where: str) -> Constitution:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DriftlabError(f"{where}: not valid TOML ({e})") from None
    items = data.get("principles")
    if items is None:
        raise DriftlabError(f"{where}: no [[principles]] tables")
    if not isinstance(items, list):
        raise DriftlabError(f"{where}: 'principles' must be a list of [[principles]] tables")
    principles = [
        _principle(item, f"{where}, principle {i}", i) for i, item in enumerate(items, start=1)
    ]
    return _finish(str(data.get("name", "constitution")), principles, where)


def _from_jsonl(text: str, where: str, name: str) -> Constitution:
    principles: list[Principle] = []
    for line_where, item in parse_jsonl_lines(text, where):
        principles.append(_principle(item, line_where, len(principles) + 1))
    return _finish(name, principles, where)


def _principle(item: object, where: str, index: int) -> Principle:
    if not isinstance(item, dict):
        raise DriftlabError(f"{where}: expected a table with keys {', '.join(REQUIRED)}")
    unknown = sorted(set(item) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise DriftlabError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(REQUIRED + OPTIONAL)}"
        )
    for key in REQUIRED:
        if key not in item:
            raise DriftlabError(
                f"{where}: missing {key!r} "
                "(every principle needs a critique and a revision request)"
            )
    for key in REQUIRED + OPTIONAL:
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            raise DriftlabError(f"{where}: {key!r} must be a non-empty string")
    return Principle(
        item.get("name", f"principle-{index}").strip(),
        item["critique"].strip(),
        item["revision"].strip(),
        (item.get("comparison") or "").strip() or None,
    )


def _finish(name: str, principles: list[Principle], where: str) -> Constitution:
    if not principles:
        raise DriftlabError(f"{where}: the principle list is empty")
    names = [p.name for p in principles]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DriftlabError(
            f"{where}: principle name {', '.join(map(repr, dup))} used more than once"
        )
    return Constitution(name, tuple(principles), where)
