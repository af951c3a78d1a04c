"""The run directory: every artifact of a run, written atomically, so a kill loses nothing.

Layout:
    run.json               status, per-round summary, versions, seeds
    config.toml            the resolved config
    rounds/NNN/            proposals.jsonl, train.jsonl, adapter/, lineage.json, metrics.json
    .driftlab.lock         held (flock) by the one process writing the run
A step is done exactly when its artifact exists: resume redoes only the missing ones.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from driftlab.errors import DriftlabError

STATUSES = ("running", "completed", "halted", "failed", "awaiting_review")
TMP_SUFFIX = ".tmp"  # every temporary file or folder of an atomic write is named .NAME.XXXX.tmp
LOCK_NAME = ".driftlab.lock"
# Fields that hold wall-clock times or speeds, wherever they appear in a run's JSON files
# (run.json, its round rows, adapter/train_stats.json, and `at`, when a review was finished,
# in review.json): the only ones that differ between a run killed and resumed and the same
# run never stopped.
TIME_FIELDS = frozenset(
    {
        "created",
        "updated",
        "wall_s",
        "seconds",
        "tokens_per_s",
        "train.seconds",
        "train.tokens_per_s",
        "at",
    }
)

# Fault injection for the kill tests (tests/test_kill.py). DRIFTLAB_FAULT="SIGNAL WHEN K",
# e.g. "SIGKILL after 3", makes the process send itself SIGNAL right after (or right before)
# its K-th atomic rename since it started, the point where a write becomes durable:
# "SIGKILL before 3" leaves the third write's complete temporary behind; "SIGSTOP after 2"
# freezes the process holding its run directory. Unset, it costs two environment lookups
# per write.
FAULT_ENV = "DRIFTLAB_FAULT"
_renames = 0


def _fault(when: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if spec:
        sig, at, k = spec.split()
        if at == when and int(k) == _renames:
            os.kill(os.getpid(), signal.Signals[sig])


def _publish(tmp: str | Path, path: Path) -> None:
    """Rename a finished temporary onto `path`: the one point where a write becomes durable."""
    global _renames
    _renames += 1
    _fault("before")
    os.replace(tmp, path)
    _fault("after")


def _atomic_write(path: Path, data: str) -> None:
    atomic_write_bytes(path, data.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    _atomic_write(
        path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    )


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_jsonl_lines(text: str, where: str) -> Iterator[tuple[str, Any]]:
    """('FILE, line N', object) per non-blank line of a user's JSONL file; bad JSON names a line."""
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        _publish(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep_temporaries(root: Path) -> list[Path]:
    """Delete what killed atomic writes left under `root` (only while holding its lock)."""
    swept = []
    for p in sorted(Path(root).rglob(f".*{TMP_SUFFIX}")):
        if any(parent in swept for parent in p.parents):
            continue  # inside a temporary folder already removed
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
        swept.append(p)
    return swept


class DirectoryBusy(DriftlabError):
    """Another live process holds the directory's lock."""


def lock_directory(root: Path) -> int:
    """Make this process the directory's one writer: an flock on ROOT/.driftlab.lock.

    The kernel drops the lock when the process ends, however it ends, so a killed run
    never leaves a stale lock. Returns the descriptor that holds it (see `unlock`).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdecimal() else ""
        raise DirectoryBusy(
            f"{root} is in use by another driftlab process{pid}; wait for it to "
            "finish or stop it, then run the command again"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


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
    """A run directory. `create` starts one and `open` resumes one, each as its one writer
    (the directory's lock, held until `close` or the process ends); the plain constructor
    reads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock: int | None = None

    def _acquire(self) -> None:
        self._lock = lock_directory(self.root)
        sweep_temporaries(self.root)

    def close(self) -> None:
        unlock(self._lock)
        self._lock = None

    # ---- life cycle ------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, config_toml: str, info: dict[str, Any]) -> RunStore:
        root = Path(root)
        if (root / "run.json").exists():
            raise DriftlabError(
                f"{root} already holds a run; use --resume to continue it or choose another --out"
            )
        store = cls(root)
        store._acquire()
        if (root / "run.json").exists():  # another process made it since the check above
            store.close()
            raise DriftlabError(f"{root} already holds a run; use --resume to continue it")
        store.write_config(config_toml)
        store.start_run(info)
        return store

    @classmethod
    def open(cls, root: Path) -> RunStore:
        root = Path(root)
        if not (root / "run.json").exists() and not (root / "config.toml").exists():
            raise DriftlabError(f"{root} holds no run to resume (no run.json)")
        store = cls(root)
        store._acquire()
        return store

    def write_config(self, config_toml: str) -> None:
        _atomic_write(self.root / "config.toml", config_toml)

    def started(self) -> bool:
        """False only for a run killed between writing config.toml and run.json."""
        return (self.root / "run.json").exists()

    def start_run(self, info: dict[str, Any]) -> None:
        self.write_run(
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

    def record_round(self, summary: dict[str, Any], **fields: Any) -> None:
        """Insert or replace the summary of round `summary['round']` in run.json.

        `fields` (e.g. the guard's halt) go into run.json in the same write, so they and
        the round's completion mark are recorded together or not at all.
        """
        run = self.read_run()
        run.update(fields)
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
