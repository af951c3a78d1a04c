"""Review statistics per round: how many proposed examples people accepted, edited or rejected.

`review_stats(run_dir)` is what a report shows ("how many were overruled, and which kinds");
the fields are documented in docs/artifacts-review.md. Everything is recomputed from the
run directory (the proposed rows, proposals.jsonl and review.sqlite), so a figure can always
be reproduced from the artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftlab.review.db import ReviewDB, conflicts, latest
from driftlab.review.examples import link, proposed_rows, row_kind
from driftlab.store import RunStore, read_jsonl

DB_NAME = "review.sqlite"
OUTCOMES = ("accepted", "edited", "rejected", "undecided")
_OUTCOME = {"accept": "accepted", "edit": "edited", "reject": "rejected"}


def round_stats(store: RunStore, k: int, db: ReviewDB | None) -> dict[str, Any]:
    """The review of round k: counts overall and per kind, reviewers, conflicts, finish record."""
    rows = proposed_rows(store, k)
    proposals = (
        read_jsonl(store.artifact(k, "proposals.jsonl")) if store.has(k, "proposals.jsonl") else []
    )
    kinds = [row_kind(r, link(r, proposals)) for r in rows]
    history = [d for d in db.history(k) if d.example < len(rows)] if db else []
    won = latest(history)
    finished = db.finished(k) if db else None
    by_kind: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(OUTCOMES, 0)
    for i, kind in enumerate(kinds):
        outcome = _OUTCOME[won[i].decision] if i in won else "undecided"
        by_kind.setdefault(kind, {"proposed": 0, **dict.fromkeys(OUTCOMES, 0)})
        by_kind[kind]["proposed"] += 1
        by_kind[kind][outcome] += 1
        totals[outcome] += 1
    undecided_kept = finished is not None and finished["undecided"] == "accept"
    return {
        "round": k,
        "status": "finished" if finished else "in progress",
        "proposed": len(rows),
        **totals,
        "overruled": totals["rejected"] + totals["edited"],
        "trained": totals["accepted"]
        + totals["edited"]
        + (totals["undecided"] if undecided_kept else 0),
        "decisions": len(history),
        "reviewers": sorted({d.reviewer for d in history}),
        "conflicts": len(conflicts(history)),
        "by_kind": by_kind,
        "finished": finished,
    }


def flat(stats: dict[str, Any]) -> dict[str, float]:
    """The numbers of `round_stats` as flat keys, for the round's summary in run.json."""
    out = {
        k: stats[k]
        for k in ("proposed", *OUTCOMES, "overruled", "trained", "decisions", "conflicts")
    }
    out["reviewers"] = len(stats["reviewers"])
    for kind, counts in sorted(stats["by_kind"].items()):
        for outcome in OUTCOMES:
            out[f"{outcome}.{kind}"] = counts[outcome]
    return out


def review_stats(run_dir: str | Path) -> dict[int, dict[str, Any]]:
    """Per reviewed (or awaiting) round of a run, its `round_stats`; {} for a run never reviewed."""
    store = RunStore(Path(run_dir))
    path = store.root / DB_NAME
    db = ReviewDB(path) if path.exists() else None
    rounds = set(db.rounds()) if db else set()
    rounds |= {
        k
        for k in store.round_numbers()
        if store.has(k, "critiques.jsonl") or store.has(k, "train.proposed.jsonl")
    }
    return {k: round_stats(store, k, db) for k in sorted(rounds) if store.has(k, "train.jsonl")}
