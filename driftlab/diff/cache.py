"""A step cache in the diff's output folder: each step's result, keyed by that step's inputs.

A step's key hashes its settings and the keys of the steps it reads, so changing a later
step (a new labeler, another alpha) reruns only that step and what follows; sampling and
embedding are reused. Writes are atomic (store.py), so a killed diff leaves no half file.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from driftlab.store import atomic_write_bytes, read_json, write_json


def key_of(inputs: Any) -> str:
    """A stable 16-hex-digit hash of JSON-able inputs."""
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StepCache:
    """`root=None` keeps nothing on disk (the monitor's case): every step is computed."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.timings: dict[str, float] = {}
        self.hits: list[str] = []

    def path(self, step: str, key: str, ext: str) -> Path | None:
        return None if self.root is None else self.root / f"{step}-{key}.{ext}"

    def json(self, step: str, inputs: Any, compute: Callable[[], Any]) -> tuple[Any, str]:
        """(result, key): read STEP-KEY.json if present, else compute and write it."""
        key = key_of(inputs)
        path = self.path(step, key, "json")
        if path is not None and path.exists():
            self.hits.append(step)
            self.timings[step] = 0.0
            return read_json(path), key
        start = time.perf_counter()
        value = compute()
        self.timings[step] = round(time.perf_counter() - start, 3)
        if path is not None:
            write_json(path, value)
        return value, key

    def array(
        self, step: str, inputs: Any, compute: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, str]:
        """Like `json` for one float array, stored as .npy (embeddings are too big for JSON)."""
        key = key_of(inputs)
        path = self.path(step, key, "npy")
        if path is not None and path.exists():
            self.hits.append(step)
            self.timings[step] = 0.0
            return np.load(path), key
        start = time.perf_counter()
        value = np.asarray(compute(), dtype=np.float32)
        self.timings[step] = round(time.perf_counter() - start, 3)
        if path is not None:
            buf = io.BytesIO()
            np.save(buf, value)
            atomic_write_bytes(path, buf.getvalue())
        return value, key
