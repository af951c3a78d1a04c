"""Reading a numeric score out of a judge's free text, without ever crashing.

Judges, above all small ones, answer "Score: 4", "**Score:** 4", "4/5", "I'd give it a score
of 3.5", "8/10", echo the rubric, or write nothing useful. The parser prefers an explicit
"score" label (the last one, since the rubric asks to conclude with it), then a fraction
("4 out of 5"), then a reply that is one bare number; a score on another scale ("8/10") is
rescaled. Everything else is a counted failure: "no_score" when nothing reads as a score,
"out_of_range" when the number falls outside [low, high]. Bare numbers inside prose are never
taken: "Add 1 point if..." copied from the rubric is not a score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
