"""The round of a run that awaits review, as the web app and `driftlab review --finish` see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftlab.errors import DriftlabError
from driftlab.review.critique import read_critiques
from driftlab.review.db import ReviewDB, conflicts, latest
from driftlab.review.examples import review_items
from driftlab.review.gate import apply_review
from driftlab.review.stats import DB_NAME
from driftlab.store import RunStore


class ReviewSession:
    def __init__(self, store: RunStore, k: int) -> None:
        self.store, self.round = store, k
        self.run = store.read_run()
        self.db = ReviewDB(store.root / DB_NAME)
        self.items = review_items(store, k, read_critiques(store, k))

    def decide(
        self, example: int, decision: str, reviewer: str, edited: str | None = None
    ) -> dict[str, Any]:
        if not 0 <= example < len(self.items):
            raise DriftlabError(
                f"round {self.round} has examples 0 to {len(self.items) - 1} (got {example})"
            )
        return self.db.decide(self.round, example, decision, reviewer, edited).to_dict()

    def decisions(self) -> dict[str, Any]:
        """Each example's winning decision, its history and whether reviewers disagree."""
        history = self.db.history(self.round)
        won, clash = latest(history), conflicts(history)
        per: dict[int, dict[str, Any]] = {}
        for d in history:
            per.setdefault(d.example, {"history": []})["history"].append(d.to_dict())
        for ex, entry in per.items():
            entry["latest"] = won[ex].to_dict()
            entry["conflict"] = ex in clash
        counts = {"examples": len(self.items), "accept": 0, "reject": 0, "edit": 0}
        for d in won.values():
            counts[d.decision] += 1
        counts["undecided"] = len(self.items) - len(won)
        counts["conflicts"] = len(clash)
        return {"finished": self.db.finished(self.round), "counts": counts, "decisions": per}

    def state(self) -> dict[str, Any]:
        return {
            "run": str(self.store.root),
            "name": self.run.get("name"),
            "method": self.run.get("method"),
            "round": self.round,
            "items": self.items,
            **self.decisions(),
        }

    def finish(self, reviewer: str, undecided: str | None = None) -> dict[str, Any]:
        """Mark the round reviewed and write its reviewed train.jsonl; returns the round's stats."""
        if self.db.finished(self.round) is None:
            left = len(self.items) - len(latest(self.db.history(self.round)))
            if left and undecided is None:
                raise DriftlabError(
                    f"{left} of {len(self.items)} examples have no decision yet: decide them, "
                    "or finish with undecided examples accepted or rejected "
                    "(driftlab review RUN --finish --undecided accept|reject)"
                )
            self.db.finish(self.round, reviewer, undecided or "reject")
        # applied again when finished before: a process killed between the two writes above
        # and below is completed by running the command again (the same files result)
        return apply_review(self.store, self.round, self.db)[1]


def open_review(run_dir: str | Path) -> ReviewSession:
    """The run's round awaiting review; one clear message when there is none."""
    root = Path(run_dir)
    if not (root / "run.json").exists():
        raise DriftlabError(f"{root} holds no driftlab run (no run.json)")
    store = RunStore(root)
    run = store.read_run()
    pending = run.get("review") or {}
    if run.get("status") != "awaiting_review" or "round" not in pending:
        raise DriftlabError(
            f"{root} is not awaiting review (status: {run.get('status')}). A run pauses for "
            "review after proposing when its config has [review] enabled = true"
        )
    return ReviewSession(store, int(pending["round"]))
