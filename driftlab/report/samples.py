"""Rows for the sample browser, from each round's proposals.jsonl, whatever loop wrote them.

Each loop records different evidence (LMSI votes, judge scores, critiques, classifier
verdicts). A row pulls out the headline (prompt, output, selected and why, a few key
figures) and keeps every other field under "details", so nothing a loop recorded is hidden
and a loop added later still renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Shown at most per round: a browser table of tens of thousands of rows is unusable, and the
# page links the full file.
MAX_ROWS_PER_ROUND = 1000
PROMPT_KEYS = ("question", "prompt")
TEXT_KEYS = ("text", "response", "final", "raw")
HEADLINE = {
    "kind",
    "question",
    "prompt",
    "text",
    "response",
    "final",
    "raw",
    "selected",
    "reason",
    "question_id",
    "case_id",
}


@dataclass
class SampleRow:
    round: int
    kind: str
    item: str  # the question or case id
    prompt: str
    text: str
    selected: bool | None
    reason: str
    evidence: list[tuple[str, str]] = field(default_factory=list)  # short figures shown in the row
    details: list[tuple[str, str]] = field(default_factory=list)  # long texts, shown on expanding


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _judgements(rows: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, j in enumerate(rows):
        score = j.get("score")
        head = f"judge sample {i + 1}: " + (
            f"score {_short(score)}" if score is not None else f"no score ({j.get('error')})"
        )
        out.append((head, _short(j.get("raw", ""))))
    return out


def _passes(passes: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, p in enumerate(passes):
        out.append(
            (f"pass {i + 1} critique under '{p.get('principle')}'", _short(p.get("critique", "")))
        )
        out.append((f"pass {i + 1} revision", _short(p.get("revision", ""))))
    return out


def _evidence(p: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]], set[str]]:
    """(evidence, details, keys consumed) for the fields the built-in loops write."""
    ev: list[tuple[str, str]] = []
    det: list[tuple[str, str]] = []
    used: set[str] = set()

    def take(key: str, label: str | None = None) -> None:
        if key in p and p[key] is not None:
            ev.append((label or key.replace("_", " "), _short(p[key])))
        used.add(key)

    for key, label in (
        ("answer", None),
        ("majority", None),
        ("vote_share", "vote share"),
        ("format", None),
        ("mean_score", "judge mean"),
        ("role", None),
        ("source", None),
        ("candidate", None),
        ("flagged", None),
        ("score", None),
        ("fixed", None),
        ("flag_rate", "flag rate"),
        ("found_in_round", "found in round"),
        ("trained_on", "trained on"),
        ("method", None),
        ("changed", None),
        ("finish", None),
        ("num_tokens", "tokens"),
    ):
        take(key, label)
    if isinstance(p.get("judgements"), list):
        det += _judgements(p["judgements"])
        used.add("judgements")
    if isinstance(p.get("passes"), list):
        det += _passes(p["passes"])
        used.add("passes")
    if isinstance(p.get("responses"), list):
        det += [
            (
                f"response {chr(65 + i)}" if len(p["responses"]) == 2 else f"response {i + 1}",
                _short(r),
            )
            for i, r in enumerate(p["responses"])
        ]
        used.add("responses")
    if isinstance(p.get("feedback"), dict) and p["feedback"]:
        fb = p["feedback"]
        for key in ("principle", "p_first", "p_a", "orders_agree"):
            if key in fb:
                ev.append((f"feedback {key.replace('_', ' ')}", _short(fb[key])))
        det.append(("AI feedback", _short(fb)))
        used.add("feedback")
    if isinstance(p.get("verdict"), dict):
        det.append(("classifier verdict", _short(p["verdict"].get("raw", p["verdict"]))))
        used.add("verdict")
    if isinstance(p.get("revision"), dict):
        det += _passes([p["revision"]])
        used.add("revision")
    if p.get("revision_verdict") is not None:
        ev.append(("revision flagged", _short(p["revision_verdict"].get("flagged"))))
        used.add("revision_verdict")
    return ev, det, used


def sample_row(round_: int, p: dict[str, Any], default_kind: str = "sample") -> SampleRow:
    ev, det, used = _evidence(p)
    for key, value in p.items():  # whatever else a loop recorded
        if key in HEADLINE or key in used:
            continue
        if isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > 80):
            det.append((key.replace("_", " "), _short(value)))
        elif value is not None:
            ev.append((key.replace("_", " "), _short(value)))
    prompt = next((str(p[k]) for k in PROMPT_KEYS if p.get(k)), "")
    text = next((str(p[k]) for k in TEXT_KEYS if p.get(k) and k != "prompt"), "")
    if p.get("kind") == "prompt_generation" or p.get("kind") == "test_generation":
        prompt, text = "(the model writes a new prompt)", str(p.get("raw", ""))
    selected = p.get("selected")
    reason = str(p.get("reason", ""))
    if (
        reason == "selected" and selected is False and "majority" in p
    ):  # LMSI: the question is kept, not this path
        reason = (
            "question kept; answer differs from the majority"
            if p.get("answer") != p["majority"]
            else "question kept; over max_paths_per_question"
        )
    return SampleRow(
        round=round_,
        kind=str(p.get("kind", default_kind)),
        item=str(p.get("question_id", p.get("case_id", ""))),
        prompt=prompt,
        text=text,
        selected=selected if isinstance(selected, bool) else None,
        reason=reason,
        evidence=ev,
        details=det,
    )


def round_samples(round_: int, proposals: list[dict[str, Any]]) -> tuple[list[SampleRow], int]:
    """(rows shown, rows in the file)."""
    return [sample_row(round_, p) for p in proposals[:MAX_ROWS_PER_ROUND]], len(proposals)
