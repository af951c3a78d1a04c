"""What a reviewer sees of a proposed training row: its kind, its target and the loop's evidence.

An example is one line of the round's proposed train.jsonl (kept as train.proposed.jsonl once
the review is applied), named by its line index. The evidence is read back from the round's
proposals.jsonl, linked by `case_id` or `question_id`: LMSI's votes, a judge's scores and raw
judgements, a constitution's critiques and revisions, a red-team classifier's verdict.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from driftlab.store import RunStore, read_jsonl

TEXT_FIELDS = {"prompt", "completion", "chosen", "rejected"}
MAX_RECORDS = 3  # raw proposal records shown per example; the tallies cover the rest


def proposed_rows(store: RunStore, k: int) -> list[dict]:
    """The loop's own training rows for round k, before any review was applied."""
    kept = store.artifact(k, "train.proposed.jsonl")
    return read_jsonl(kept if kept.exists() else store.artifact(k, "train.jsonl"))


def target_key(row: dict) -> str:
    """The field a reviewer's edit replaces: the SFT completion, or a pair's preferred reply."""
    return "completion" if "completion" in row else "chosen"


def target_text(row: dict) -> str:
    return row[target_key(row)][-1]["content"]


def with_edit(row: dict, text: str) -> dict:
    """The row with its target's last turn replaced by the reviewer's text (the rest untouched)."""
    key = target_key(row)
    return {**row, key: [*row[key][:-1], {**row[key][-1], "content": text}]}


def link(row: dict, proposals: list[dict]) -> list[dict]:
    """The proposals that produced this row (same red-team case, else same question)."""
    for field in ("case_id", "question_id"):
        if field in row:
            return [p for p in proposals if p.get(field) == row[field] and p.get("kind") != "probe"]
    return []


def row_kind(row: dict, linked: list[dict]) -> str:
    """A short name for the sort of example, for counting what reviewers overrule.

    LMSI's training format (cot, direct, ...), else the red-team test's method or the
    prompt's source, else the training shape (sft or dpo pair).
    """
    if "format" in row:
        return str(row["format"])
    for field in ("method", "source"):
        values = {p[field] for p in linked if isinstance(p.get(field), str)}
        if len(values) == 1:
            return values.pop()
    return "pair" if "chosen" in row else "completion"


def evidence(row: dict, linked: list[dict]) -> dict[str, Any]:
    """The signals the loop used to pick this row, in a form a page can show."""
    signals = {
        k: v
        for k, v in row.items()
        if k not in TEXT_FIELDS and isinstance(v, (int, float, str, bool)) and v is not None
    }
    out: dict[str, Any] = {"signals": signals, "notes": []}
    answers = [p.get("answer") for p in linked if "answer" in p]
    if answers:  # LMSI: the vote the row won
        tally = Counter("(no answer)" if a is None else str(a) for a in answers)
        out["votes"] = {"samples": len(answers), "tally": [[a, n] for a, n in tally.most_common()]}
    notes = out["notes"]
    for p in linked:
        if p.get("judgements") and p.get("role"):
            said = "; ".join(
                _short(j.get("raw")) if isinstance(j.get("raw"), str) else f"score {j.get('score')}"
                for j in p["judgements"][:3]
            )
            notes.append(
                {
                    "label": f"judge on the {p['role']} reply (mean {_num(p.get('mean_score'))})",
                    "text": said,
                }
            )
        for step in p.get("passes") or []:
            notes.append(
                {
                    "label": f"critique under {step.get('principle')}",
                    "text": _short(step.get("critique")),
                }
            )
        if isinstance(p.get("feedback"), dict) and p["feedback"]:
            fb = p["feedback"]
            notes.append(
                {
                    "label": f"AI preference under {fb.get('principle')}",
                    "text": f"P(first reply better) = {_num(fb.get('p_first'))}, "
                    f"orders agree: {bool(fb.get('orders_agree'))}",
                }
            )
        if isinstance(p.get("verdict"), dict):
            v = p["verdict"]
            notes.append(
                {
                    "label": "classifier on the original reply",
                    "text": f"flagged: {v.get('flagged')}, score {_num(v.get('score'))}",
                }
            )
        if isinstance(p.get("revision_verdict"), dict):
            v = p["revision_verdict"]
            notes.append(
                {
                    "label": "classifier on the revision",
                    "text": f"flagged: {v.get('flagged')}, score {_num(v.get('score'))}",
                }
            )
    chosen = [p for p in linked if p.get("selected") or p.get("role")] or linked
    out["records"] = chosen[:MAX_RECORDS]
    return out


def review_items(store: RunStore, k: int, critiques: dict[int, str] | None = None) -> list[dict]:
    """Every proposed example of round k with its prompt, target, evidence and critique."""
    proposals = (
        read_jsonl(store.artifact(k, "proposals.jsonl")) if store.has(k, "proposals.jsonl") else []
    )
    items = []
    for i, row in enumerate(proposed_rows(store, k)):
        linked = link(row, proposals)
        turns = row.get("prompt") or []
        items.append(
            {
                "example": i,
                "kind": row_kind(row, linked),
                "prompt": turns[-1]["content"] if turns else "",
                "context": turns[:-1],  # few-shot turns before the question
                "target_role": target_key(row),
                "target": target_text(row),
                "rejected": row["rejected"][-1]["content"] if "rejected" in row else None,
                "evidence": evidence(row, linked),
                "critique": (critiques or {}).get(i),
            }
        )
    return items


def _short(text: Any, limit: int = 400) -> str:
    text = "" if text is None else str(text).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def _num(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)
