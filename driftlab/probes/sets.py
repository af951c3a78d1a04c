"""Probe-set items, their validation, and versioned storage (JSONL + manifest).

A set's version is the hash of its items, so a stored score always names exactly the
items it was computed on, and a rebuilt set with the same items keeps its version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from driftlab.errors import DriftlabError
from driftlab.store import parse_jsonl_lines, read_json, write_json, write_jsonl

SUBTASKS: dict[str, str] = json.loads(
    resources.files("driftlab.data").joinpath("probes/subtasks.json").read_text("utf-8")
)


class Item(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)


class BiasPair(Item):
    """One prompt template filled with two groups of one attribute; only the group differs."""

    attribute: str
    groups: list[str] = Field(min_length=2, max_length=2)
    prompts: list[str] = Field(min_length=2, max_length=2)


class ConceptProbe(Item):
    concept: str = Field(min_length=1)
    prompt: str = Field(min_length=1)


class ReflectivityItem(Item):
    """A two-option question; items sharing `group` are paraphrases of one another."""

    subtask: Literal[
        "self_concept", "temporal", "external_influence", "impact_prediction", "change_desirability"
    ]
    group: str
    question: str = Field(min_length=10)
    options: list[str] = Field(min_length=2, max_length=2)

    @field_validator("options")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len({o.strip().lower() for o in v}) < 2 or not all(o.strip() for o in v):
            raise ValueError("the two options must be non-empty and different")
        return v


KINDS: dict[str, type[Item]] = {
    "bias": BiasPair,
    "semantic": ConceptProbe,
    "reflectivity": ReflectivityItem,
}


def check_kind(kind: str) -> type[Item]:
    if kind not in KINDS:
        raise DriftlabError(f"unknown probe kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return KINDS[kind]


def shipped(kind: str) -> Path:
    check_kind(kind)
    return Path(str(resources.files("driftlab.data").joinpath(f"probes/{kind}.jsonl")))


def load_set(kind: str, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The items of a probe set (the shipped starter set when `path` is None), validated."""
    cls = check_kind(kind)
    p = Path(path) if path else shipped(kind)
    if not p.is_file():
        raise DriftlabError(f"probe set not found: {p}")
    items, seen = [], set()
    for where, row in parse_jsonl_lines(p.read_text("utf-8"), str(p)):
        try:
            item = cls.model_validate(row).model_dump()
        except ValidationError as e:
            first = e.errors()[0]
            raise DriftlabError(
                f"{where}: not a {kind} probe item: {'.'.join(map(str, first['loc']))}: "
                f"{first['msg']}"
            ) from None
        if item["id"] in seen:
            raise DriftlabError(f"{where}: duplicate item id {item['id']!r}")
        seen.add(item["id"])
        items.append(item)
    if not items:
        raise DriftlabError(f"probe set {p} holds no items")
    return items


def version_of(items: list[dict]) -> str:
    blob = json.dumps(items, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def save_set(
    path: Path, kind: str, items: list[dict], provenance: dict[str, Any]
) -> dict[str, Any]:
    """Write items and `<path>.manifest.json` (version, counts, how it was built), atomically."""
    check_kind(kind)
    manifest = {
        "kind": kind,
        "version": version_of(items),
        "items": len(items),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **provenance,
    }
    write_jsonl(path, items)
    write_json(manifest_path(path), manifest)
    return manifest


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def read_manifest(path: Path) -> dict[str, Any] | None:
    m = manifest_path(Path(path))
    return read_json(m) if m.is_file() else None
