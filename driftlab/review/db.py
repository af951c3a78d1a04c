"""Review decisions in SQLite (RUN/review.sqlite): one append-only row per click.

Rows are only ever inserted, never updated, so two reviewers deciding the same example at
the same moment both keep their row: the latest (highest id) wins, and the disagreement
stays visible. Each click is one committed transaction, so a closed browser, a killed
server or a crash loses at most the click in flight. The schema is documented in
docs/artifacts-review.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from driftlab.errors import DriftlabError

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- order of arrival: the latest row wins
    round    INTEGER NOT NULL,
    example  INTEGER NOT NULL,                   -- line index in rounds/NNN/train.proposed.jsonl
    decision TEXT    NOT NULL CHECK (decision IN ('accept', 'reject', 'edit')),
    edited   TEXT,                               -- the new completion (or chosen) text, for 'edit'
    reviewer TEXT    NOT NULL,
    at       TEXT    NOT NULL                    -- UTC, ISO 8601 with milliseconds
);
CREATE INDEX IF NOT EXISTS decisions_by_round ON decisions (round, example, id);
CREATE TABLE IF NOT EXISTS finished (
    round     INTEGER PRIMARY KEY,
    reviewer  TEXT NOT NULL,
    at        TEXT NOT NULL,
    -- what examples nobody decided became
    undecided TEXT NOT NULL CHECK (undecided IN ('accept', 'reject'))
);
"""
DECISIONS = ("accept", "reject", "edit")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Decision:
    id: int
    round: int
    example: int
    decision: str
    edited: str | None
    reviewer: str
    at: str

    def to_dict(self) -> dict:
        return asdict(self)


class ReviewDB:
    """The decisions of every reviewed round of one run. Safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: no connection is shared between threads.
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if write:
                con.execute("BEGIN IMMEDIATE")  # take the write lock before reading what we check
            yield con
            if write:
                con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    # ---- writes ----------------------------------------------------------------------------
    def decide(
        self, round_: int, example: int, decision: str, reviewer: str, edited: str | None = None
    ) -> Decision:
        """Append one decision; refused once the round's review is finished."""
        reviewer = (reviewer or "").strip()
        if decision not in DECISIONS:
            raise DriftlabError(
                f"decision must be one of {', '.join(DECISIONS)} (got {decision!r})"
            )
        if not reviewer:
            raise DriftlabError("a decision needs a reviewer name")
        if decision == "edit":
            if not (edited or "").strip():
                raise DriftlabError("an edit needs the new text (it was empty)")
        else:
            edited = None
        with self._connect(write=True) as con:
            if _finished(con, round_) is not None:
                raise DriftlabError(
                    f"round {round_}'s review is finished; decisions can no longer change"
                )
            at = now()
            cur = con.execute(
                "INSERT INTO decisions (round, example, decision, edited, reviewer, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (round_, example, decision, edited, reviewer, at),
            )
            assert cur.lastrowid is not None  # set by the INSERT
            return Decision(cur.lastrowid, round_, example, decision, edited, reviewer, at)

    def finish(self, round_: int, reviewer: str, undecided: str) -> dict:
        """Mark the round reviewed (once: a second finish returns the first one's record)."""
        if undecided not in ("accept", "reject"):
            raise DriftlabError(
                f"undecided examples must become 'accept' or 'reject' (got {undecided!r})"
            )
        with self._connect(write=True) as con:
            done = _finished(con, round_)
            if done is None:
                con.execute(
                    "INSERT INTO finished (round, reviewer, at, undecided) VALUES (?, ?, ?, ?)",
                    (round_, reviewer or "unknown", now(), undecided),
                )
                done = _finished(con, round_)
            assert done is not None  # inserted above
            return done

    # ---- reads -----------------------------------------------------------------------------
    def history(self, round_: int) -> list[Decision]:
        """Every decision of the round, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, round, example, decision, edited, reviewer, at FROM decisions "
                "WHERE round = ? ORDER BY id",
                (round_,),
            ).fetchall()
        return [Decision(*r) for r in rows]

    def finished(self, round_: int) -> dict | None:
        with self._connect() as con:
            return _finished(con, round_)

    def rounds(self) -> list[int]:
        """Rounds with any decision or a finish record."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT round FROM decisions UNION SELECT round FROM finished"
            ).fetchall()
        return sorted(r[0] for r in rows)


def _finished(con: sqlite3.Connection, round_: int) -> dict | None:
    row = con.execute(
        "SELECT reviewer, at, undecided FROM finished WHERE round = ?", (round_,)
    ).fetchone()
    return None if row is None else {"reviewer": row[0], "at": row[1], "undecided": row[2]}


def latest(history: list[Decision]) -> dict[int, Decision]:
    """The winning decision per example: the last one to arrive."""
    out: dict[int, Decision] = {}
    for d in history:  # oldest first, so later rows overwrite
        out[d.example] = d
    return out


def conflicts(history: list[Decision]) -> dict[int, list[Decision]]:
    """Examples whose reviewers' latest decisions disagree, with each reviewer's latest."""
    per: dict[int, dict[str, Decision]] = {}
    for d in history:
        per.setdefault(d.example, {})[d.reviewer] = d
    return {
        ex: sorted(by.values(), key=lambda d: d.id)
        for ex, by in per.items()
        if len({(d.decision, d.edited) for d in by.values()}) > 1
    }
