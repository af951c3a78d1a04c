"""A judge's score of a reply: read from its free text without ever crashing, or as the
expected value of its score distribution.

Judges, above all small ones, answer "Score: 4", "**Score:** 4", "4/5", "I'd give it a score
of 3.5", "8/10", echo the rubric, or write nothing useful. The parser prefers an explicit
"score" label (the last one, since the rubric asks to conclude with it), then a fraction
("4 out of 5"), then a reply that is one bare number; a score on another scale ("8/10") is
rescaled. Everything else is a counted failure: "no_score" when nothing reads as a score,
"out_of_range" when the number falls outside [low, high]. Bare numbers inside prose are never
taken: "Add 1 point if..." copied from the rubric is not a score.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from driftlab.models.base import Chat, Generator, Prompt

NUMBER = r"(-?\d+(?:\.\d+)?)"
SCALE = rf"(?:\s*(?:/|out\s+of)\s*{NUMBER})?"
LABELLED = re.compile(
    rf"\b(?:total\s+)?(?:score|rating|points\s+awarded)\b[^\w\n-]{{0,6}}"
    rf"(?:(?:is|of|was|would\s+be|=|:)\s*)?(?:a\s+)?[^\w\n-]{{0,4}}{NUMBER}{SCALE}",
    re.IGNORECASE,
)
FRACTION = re.compile(rf"{NUMBER}\s*(?:/|out\s+of)\s*{NUMBER}", re.IGNORECASE)
BARE = re.compile(rf"^\W*{NUMBER}\W*$")


@dataclass(frozen=True)
class ParsedScore:
    value: float | None
    error: str | None = None  # None, "no_score" or "out_of_range"
    matched: str = ""  # the text the value was read from


def parse_score(text: str | None, low: float = 0.0, high: float = 5.0) -> ParsedScore:
    """The score a judge's text commits to, on the [low, high] scale, or a named failure."""
    if not text:
        return ParsedScore(None, "no_score")
    text = text[:20_000]  # a runaway generation must not cost more than a glance
    found = None
    for pattern in (LABELLED, FRACTION, BARE):
        matches = list(pattern.finditer(text))
        if matches:
            found = matches[-1]
            break
    if found is None:
        return ParsedScore(None, "no_score")
    value = float(found.group(1))
    scale = found.group(2) if found.re.groups >= 2 else None
    if scale is not None:
        denom = float(scale)
        if denom <= 0:
            return ParsedScore(None, "out_of_range", found.group(0))
        if denom != high:
            value = value * high / denom
    if not low <= value <= high:
        return ParsedScore(None, "out_of_range", found.group(0))
    return ParsedScore(value, None, found.group(0))


def expected_scores(model: Generator, chats: list[Chat], low: int = 0, high: int = 5) -> list[dict]:
    """The judge's expected score per chat, from the normalised log-probs of "Score: low..high"
    (G-Eval's probability-weighted score: it never fails to parse)."""
    options = [f"Score: {v}" for v in range(low, high + 1)]
    prompts: list[Prompt] = [c for c in chats for _ in options]
    lps = model.option_logprobs(prompts, options * len(chats), "judging")
    out = []
    for n in range(len(chats)):
        chunk = lps[n * len(options) : (n + 1) * len(options)]
        top = max(chunk)
        weights = [math.exp(lp - top) for lp in chunk]
        total = sum(weights)
        value = sum(w * v for w, v in zip(weights, range(low, high + 1))) / total
        out.append(
            {"raw": dict(zip(options, chunk)), "score": value, "error": None, "matched": "expected"}
        )
    return out


def score_histogram(values: list[float], low: int = 0, high: int = 5) -> dict[str, float]:
    """Counts per integer score bucket (half-points round up), for the round's stats."""
    counts = {f"judge_hist_{b}": 0.0 for b in range(low, high + 1)}
    for v in values:
        counts[f"judge_hist_{min(high, max(low, int(v + 0.5)))}"] += 1
    return counts
