"""The run directory: every artifact of a run, written atomically, so a kill loses nothing.

Layout:
    run.json               status, per-round summary, versions, seeds
    config.toml            the resolved config
    rounds/NNN/            proposals.jsonl, train.jsonl, adapter/, lineage.json, metrics.json
A step is done exactly when its artifact exists: resume redoes only the missing ones.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from driftlab.errors import DriftlabError

STATUSES = ("running", "completed", "halted", "failed", "awaiting_review")


def _atomic_write(path: Path, data: str) -> None:
    atomic_write_bytes(path, data.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_jsonl_lines(text: str, where: str) -> Iterator[tuple[str, Any]]:
    """('FILE, line N', object) per non-blank line of a user's JSONL file; bad JSON names the line."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{where}, line {lineno}", json.loads(line)
        except json.JSONDecodeError as e:
            raise DriftlabError(f"{where}, line {lineno}: not valid JSON ({e.msg})") from None


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `path` only if the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("driftlab", "torch", "transformers", "trl", "peft", "sentence-transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


class RunStore:
    """A run directory. `create` starts one; `open` resumes one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- life cycle ------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, config_toml: str, info: dict[str, Any]) -> RunStore:
        root = Path(root)
        if (root / "run.json").exists():
            raise DriftlabError(
                f"{root} already holds a run; use --resume to continue it or choose another --out"
            )
        store = cls(root)
        _atomic_write(root / "config.toml", config_toml)
        store.write_run(
            {
                "status": "running",
                **info,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "versions": versions(),
                "rounds": [],
                "halt": None,
                "error": None,
            }
        )
        return store

    @classmethod
    def open(cls, root: Path) -> RunStore:
        root = Path(root)
        if not (root / "run.json").exists():
            raise DriftlabError(f"{root} holds no run to resume (no run.json)")
        return cls(root)

    # ---- run.json --------------------------------------------------------------------------
    def read_run(self) -> dict[str, Any]:
        return read_json(self.root / "run.json")

    def write_run(self, run: dict[str, Any]) -> None:
        run["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(self.root / "run.json", run)

    def update_run(self, **fields: Any) -> dict[str, Any]:
        run = self.read_run()
        run.update(fields)
        self.write_run(run)
        return run

    def record_round(self, summary: dict[str, Any]) -> None:
        """Insert or replace the summary of round `summary['round']` in run.json."""
        run = self.read_run()
        rounds = [r for r in run["rounds"] if r["round"] != summary["round"]]
        run["rounds"] = sorted([*rounds, summary], key=lambda r: r["round"])
        self.write_run(run)

    # ---- rounds ----------------------------------------------------------------------------
    def round_dir(self, k: int) -> Path:
        return self.root / "rounds" / f"{k:03d}"

    def artifact(self, k: int, name: str) -> Path:
        return self.round_dir(k) / name

    def has(self, k: int, name: str) -> bool:
        return self.artifact(k, name).exists()
