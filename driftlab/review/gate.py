"""Where a round waits for a person: pause after proposing, then train on what they accepted.

The gate keeps the run directory's contract: every step's artifact is written atomically and
none is lost. The loop's rows are kept as train.proposed.jsonl before train.jsonl is
rewritten with the accepted and edited rows, and re-applying a finished review gives the
same files, so a run killed anywhere after the review resumes to the same artifacts.
"""

from __future__ import annotations

from typing import Any

from driftlab.models.base import Generator
from driftlab.review.critique import write_critiques
from driftlab.review.db import ReviewDB, latest
from driftlab.review.examples import proposed_rows, with_edit
from driftlab.review.settings import ReviewConfig
from driftlab.review.stats import DB_NAME, flat, round_stats
from driftlab.store import RunStore, write_json, write_jsonl


class ReviewPending(Exception):
    """Raised inside a round to stop the run until its proposals have been reviewed."""

    def __init__(self, round_: int, examples: int, decided: int) -> None:
        self.info = {"round": round_, "examples": examples, "decided": decided}
        super().__init__(f"round {round_} awaits review ({decided} of {examples} decided)")


def review_gate(
    store: RunStore, k: int, rows: list[dict], model: Generator | None, cfg: ReviewConfig
) -> tuple[list[dict], dict[str, float]]:
    """Round k's training rows after review, and the review's counts for the round summary.

    Raises ReviewPending (after caching the model's critiques) until the review is finished.
    """
    if not cfg.enabled:
        return rows, {}
    db = ReviewDB(store.root / DB_NAME)
    if db.finished(k) is not None:
        reviewed, stats = apply_review(store, k, db)
        return reviewed, flat(stats)
    if not rows:
        return rows, {}  # nothing proposed, nothing to review
    if cfg.critique and model is not None:
        write_critiques(store, k, rows, model, cfg.critique_max_new_tokens)
    raise ReviewPending(k, len(rows), len(latest(db.history(k))))


def apply_review(store: RunStore, k: int, db: ReviewDB) -> tuple[list[dict], dict[str, Any]]:
    """Write round k's reviewed train.jsonl (the loop's rows kept aside first) and review.json."""
    finished = db.finished(k)
    if finished is None:
        raise ValueError(f"round {k}'s review is not finished")
    rows = proposed_rows(store, k)
    won = latest(db.history(k))
    kept = []
    for i, row in enumerate(rows):
        action = won[i].decision if i in won else finished["undecided"]
        if action == "accept":
            kept.append(row)
        elif action == "edit":
            edited = won[i].edited
            assert edited is not None  # the store keeps an edit's text (db.decide)
            kept.append(with_edit(row, edited))
    if not store.has(
        k, "train.proposed.jsonl"
    ):  # before train.jsonl changes: never lose the loop's rows
        write_jsonl(store.artifact(k, "train.proposed.jsonl"), rows)
    write_jsonl(store.artifact(k, "train.jsonl"), kept)
    stats = round_stats(store, k, db)
    write_json(store.artifact(k, "review.json"), stats)
    return kept, stats
