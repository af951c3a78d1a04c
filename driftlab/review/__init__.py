"""Human review of proposed training data (issue #8): pause, decide, train on what was accepted.

With `[review] enabled = true` a round stops after proposing (run status "awaiting_review");
`driftlab review RUN` serves a local page where people accept, reject or edit each example
next to the loop's evidence and a model-written critique; finishing the review writes the
round's reviewed train.jsonl, and `driftlab run --resume` trains on it. Decisions live in
RUN/review.sqlite (schema and statistics: docs/artifacts-review.md).

Importing this package imports neither torch nor the web stack; `serve` loads FastAPI.
"""

from driftlab.review.db import Decision, ReviewDB
from driftlab.review.gate import ReviewPending, apply_review, review_gate
from driftlab.review.session import ReviewSession, open_review
from driftlab.review.settings import ReviewConfig
from driftlab.review.stats import review_stats, round_stats


def serve(run_dir, host: str = "127.0.0.1", port: int = 8765, reviewer: str = "reviewer") -> None:
    from driftlab.review.app import serve as _serve

    _serve(run_dir, host, port, reviewer)


__all__ = [
    "Decision",
    "ReviewConfig",
    "ReviewDB",
    "ReviewPending",
    "ReviewSession",
    "apply_review",
    "open_review",
    "review_gate",
    "review_stats",
    "round_stats",
    "serve",
]
