"""The review store and gate without a model: SQLite decisions, latest wins, finish, apply, stats"""

import sqlite3
import subprocess
import sys
import threading

import pytest

from driftlab.errors import DriftlabError
from driftlab.review import (
    ReviewConfig,
    ReviewDB,
    ReviewPending,
    open_review,
    review_gate,
    review_stats,
)
from driftlab.review.db import conflicts, latest
from driftlab.store import RunStore, read_json, read_jsonl, write_jsonl


def sft(q, text, fmt):
    return {
        "prompt": [{"role": "user", "content": f"Q{q}?"}],
        "completion": [{"role": "assistant", "content": text}],
        "format": fmt,
        "question_id": f"q{q}",
        "vote_share": 0.75,
    }


ROWS = [
    sft(0, "step... The answer is 3.", "cot"),
    sft(0, "The answer is 3.", "direct"),
    sft(1, "step... The answer is 9.", "cot"),
    sft(1, "The answer is 9.", "direct"),
]
PROPOSALS = [
    {"question_id": f"q{q}", "sample": s, "text": "...", "answer": a, "selected": a == m}
    for q, m in ((0, "3"), (1, "9"))
    for s, a in enumerate([m, m, m, "7"])
]


@pytest.fixture
def paused(tmp_path):
    """A run paused at round 1 with four proposed rows, as the experiment leaves it."""
    store = RunStore.create(tmp_path / "run", "name = 'x'\n", {"name": "x", "method": "lmsi"})
    write_jsonl(store.artifact(1, "proposals.jsonl"), PROPOSALS)
    write_jsonl(store.artifact(1, "train.jsonl"), ROWS)
    with pytest.raises(ReviewPending) as e:
        review_gate(store, 1, ROWS, None, ReviewConfig(enabled=True))
    store.update_run(status="awaiting_review", review=e.value.info)
    return store


def test_concurrent_writers_keep_every_row_and_the_latest_wins(tmp_path):
    db = ReviewDB(tmp_path / "review.sqlite")
    per_thread, threads = 25, 8

    def reviewer(n):
        for i in range(per_thread):
            db.decide(
                1, i % 5, ("accept", "reject", "edit")[(n + i) % 3], f"r{n}", edited=f"text {n}/{i}"
            )

    workers = [threading.Thread(target=reviewer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    history = db.history(1)
    assert len(history) == per_thread * threads  # nobody's decision was lost
    assert [d.id for d in history] == sorted({d.id for d in history})
    won = latest(history)
    for ex in range(5):
        assert won[ex] == max((d for d in history if d.example == ex), key=lambda d: d.id)
    assert all(d.edited is None for d in history if d.decision != "edit")  # only edits carry text
    assert set(conflicts(history)) == set(range(5))  # eight reviewers disagree on every example


def test_conflicts_are_between_reviewers_not_a_reviewer_changing_their_mind(tmp_path):
    db = ReviewDB(tmp_path / "review.sqlite")
    db.decide(1, 0, "reject", "alice")
    db.decide(1, 0, "accept", "alice")  # changed her mind: no conflict
    db.decide(1, 1, "accept", "alice")
    db.decide(1, 1, "accept", "bob")  # agree: no conflict
    db.decide(1, 2, "edit", "alice", edited="a")
    db.decide(1, 2, "edit", "bob", edited="b")  # different edits: a conflict
    clash = conflicts(db.history(1))
    assert list(clash) == [2] and [d.reviewer for d in clash[2]] == ["alice", "bob"]
    assert latest(db.history(1))[2].edited == "b"


def test_bad_decisions_are_refused_with_one_message(tmp_path):
    db = ReviewDB(tmp_path / "review.sqlite")
    with pytest.raises(DriftlabError, match="decision must be one of"):
        db.decide(1, 0, "maybe", "alice")
    with pytest.raises(DriftlabError, match="needs a reviewer"):
        db.decide(1, 0, "accept", "  ")
    with pytest.raises(DriftlabError, match="edit needs the new text"):
        db.decide(1, 0, "edit", "alice", edited=" ")
    assert db.history(1) == []


def test_finish_applies_decisions_keeps_the_proposed_rows_and_is_idempotent(paused):
    store = paused
    session = open_review(store.root)
    assert [i["kind"] for i in session.items] == ["cot", "direct", "cot", "direct"]
    assert session.items[0]["evidence"]["votes"] == {"samples": 4, "tally": [["3", 3], ["7", 1]]}
    session.decide(0, "reject", "alice")
    session.decide(1, "edit", "alice", edited="The answer is 4.")
    session.decide(2, "accept", "bob")
    with pytest.raises(DriftlabError, match="1 of 4 examples have no decision"):
        session.finish("alice")
    with pytest.raises(DriftlabError, match="examples 0 to 3"):
        session.decide(7, "accept", "alice")
    stats = session.finish("alice", undecided="reject")
    expected = [
        {**ROWS[1], "completion": [{"role": "assistant", "content": "The answer is 4."}]},
        ROWS[2],
    ]
    assert read_jsonl(store.artifact(1, "train.jsonl")) == expected
    assert read_jsonl(store.artifact(1, "train.proposed.jsonl")) == ROWS
    assert stats["trained"] == 2 and stats["overruled"] == 2 and stats["undecided"] == 1
    assert stats["by_kind"]["direct"] == {
        "proposed": 2,
        "accepted": 0,
        "edited": 1,
        "rejected": 0,
        "undecided": 1,
    }
    assert read_json(store.artifact(1, "review.json")) == stats
    with pytest.raises(DriftlabError, match="review is finished"):
        session.decide(3, "accept", "carol")
    # The experiment's gate on resume: the same rows, the same files, counts for run.json.
    rows, summary = review_gate(
        store, 1, read_jsonl(store.artifact(1, "train.jsonl")), None, ReviewConfig(enabled=True)
    )
    assert rows == expected and read_jsonl(store.artifact(1, "train.proposed.jsonl")) == ROWS
    assert summary["rejected"] == 1 and summary["edited.direct"] == 1 and summary["reviewers"] == 2
    assert review_stats(store.root)[1] == stats
    with sqlite3.connect(store.root / "review.sqlite") as con:  # the documented schema
        assert con.execute(
            "SELECT count(*), count(DISTINCT reviewer) FROM decisions"
        ).fetchone() == (3, 2)
        assert con.execute("SELECT undecided FROM finished WHERE round = 1").fetchone() == (
            "reject",
        )


def test_everything_rejected_gives_an_empty_training_set(paused):
    session = open_review(paused.root)
    session.finish("alice", undecided="reject")
    rows, summary = review_gate(paused, 1, [], None, ReviewConfig(enabled=True))
    assert (
        rows == []
        and summary["rejected"] == 0
        and summary["undecided"] == 4
        and summary["trained"] == 0
    )


def test_review_of_a_run_not_awaiting_review_is_one_clear_message(paused, tmp_path):
    paused.update_run(status="completed")
    with pytest.raises(DriftlabError, match="not awaiting review"):
        open_review(paused.root)
    res = subprocess.run(
        [sys.executable, "-m", "driftlab", "review", str(paused.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "is not awaiting review (status: completed)" in " ".join(res.stderr.split())
    assert len(res.stderr.strip().splitlines()) <= 3  # one message (rich may wrap it)
