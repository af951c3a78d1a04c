"""Resumable steps: read a step's result if it is on disk, else compute it and write it
atomically. The one mechanism behind the round engine's artifacts, the diff's cache and the
w2s units.

A step is done exactly when its file (or folder) exists, and the write that makes it exist
is atomic (store.py), so a killed process leaves a step done or not, never half. Steps come
in two namings:
- by place: the engine's `rounds/NNN/train.jsonl`, `metrics.json`, `adapter/` are round k's,
  whatever the inputs (the config is fixed for the run); it calls `once` / `once_dir` on them.
- by inputs: `key_of` hashes what a step depends on, so a changed setting gets a new file and
  reruns only that step and what reads it (the diff's `STEP-KEY.json`, w2s `units/KEY.json`,
  the w2s frozen features `w2s-features/KEY.pt` shared across runs).

Why the engine keeps its own sequencing: its steps write several files per round (proposals
and loop info before the train rows that mark the step done; adapter, stats and rows in one
folder) and return values that live in memory (monitor results, the trained model); forcing
them through a content-keyed cache would hide the run layout RunStore documents. So the engine
shares the primitive (`once`, `once_dir`) and not the hash-named cache (`Steps`).

`key_of` is the hash both caches used before they shared it: sha256 of sorted-key JSON with
non-ASCII text kept as is (the diff's texts are keys; w2s specs are ASCII, where both old
formulas agreed), objects JSON cannot write as their `str`; 16 hex digits.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from driftlab.store import (
    atomic_dir,
    atomic_write_bytes,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
)

T = TypeVar("T")


def key_of(inputs: Any) -> str:
    """A stable 16-hex-digit hash of JSON-able inputs: equal inputs find the same file."""
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Format(Generic[T]):
    """How a step's value is stored: the file's extension, its reader and its atomic writer."""

    ext: str
    read: Callable[[Path], T]
    write: Callable[[Path, T], None]


def _write_npy(path: Path, value: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, value)
    atomic_write_bytes(path, buf.getvalue())


def _read_torch(path: Path) -> Any:
    import torch  # only the w2s features need it

    return torch.load(path)


def _write_torch(path: Path, value: Any) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(value, buf)
    atomic_write_bytes(path, buf.getvalue())


JSON: Format[Any] = Format("json", read_json, write_json)
JSONL: Format[list[dict]] = Format("jsonl", read_jsonl, write_jsonl)
NPY: Format[np.ndarray] = Format("npy", np.load, _write_npy)  # arrays too big for JSON
TORCH: Format[Any] = Format("pt", _read_torch, _write_torch)  # tensors (w2s frozen features)


def once(path: Path | None, compute: Callable[[], T], fmt: Format[T] = JSON) -> tuple[T, bool]:
    """(value, hit): `path` read if it exists, else `compute()` written there atomically
    (`path=None` keeps nothing: always computed). The value computed is returned as is."""
    if path is not None and path.exists():
        return fmt.read(path), True
    value = compute()
    if path is not None:
        fmt.write(path, value)
    return value, False


def once_dir(path: Path, build: Callable[[Path], T], read: Callable[[Path], T]) -> T:
    """A folder step: `read(path)` if the folder exists, else `build(tmp)` fills a temporary
    folder that becomes `path` only when it returns (its rename is the completion mark)."""
    if path.exists():
        return read(path)
    with atomic_dir(path) as tmp:
        return build(tmp)


class Steps:
    """Steps named by their inputs in one folder, `NAME-KEY.EXT`; `root=None` keeps nothing
    on disk (the diff monitor's case). Records each step's seconds and which ones hit."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.timings: dict[str, float] = {}
        self.hits: list[str] = []

    def path(self, name: str, key: str, ext: str) -> Path | None:
        return None if self.root is None else self.root / f"{name}-{key}.{ext}"

    def run(
        self, name: str, inputs: Any, compute: Callable[[], T], fmt: Format[T] = JSON
    ) -> tuple[T, str]:
        """(value, key): step `name` for `inputs`, read from disk or computed (and timed)."""
        key = key_of(inputs)

        def timed() -> T:
            start = time.perf_counter()
            value = compute()
            self.timings[name] = round(time.perf_counter() - start, 3)
            return value

        value, hit = once(self.path(name, key, fmt.ext), timed, fmt)
        if hit:
            self.hits.append(name)
            self.timings[name] = 0.0
        return value, key

    def json(self, name: str, inputs: Any, compute: Callable[[], Any]) -> tuple[Any, str]:
        return self.run(name, inputs, compute, JSON)

    def array(
        self, name: str, inputs: Any, compute: Callable[[], Iterable[Any] | np.ndarray]
    ) -> tuple[np.ndarray, str]:
        """Like `json` for one float32 array, stored as .npy."""
        return self.run(name, inputs, lambda: np.asarray(compute(), dtype=np.float32), NPY)
