"""Which number a model's text commits to, and whether two numbers are the same.

Self-improvement loops majority-vote on extracted answers and evaluation scores them, so the
extractor decides what the model "said". It must be predictable on messy text from tiny
models and must never raise: an exception here would kill a whole round.

Priority: the LAST explicit statement ("The answer is N", "answer: N", "\\boxed{N}", a final
"= N"), since models restate and correct themselves; else the last number in the text; else
the last number written in words ("twenty-one", "a hundred and three"). `majority_vote` picks
the loops' answer (and the capability monitor's) from several samples' extractions.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal, InvalidOperation

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_TOKEN_RE = re.compile(r"[a-z]+|[^a-z\s-]")  # hyphens join words: "twenty-one"

# A minus counts only when it does not follow a word, digit or ")": "5-3" is an operation.
_NUMBER = (
    r"(?<![0-9A-Za-z.)])(?P<sign>[-\u2212])?(?:\$\s?)?"
    r"(?P<num>[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
)
_NUMBER_RE = re.compile(_NUMBER)
# Spelled-out answers must start with a number word: "the answer is not three" is no answer.
_FIRST_WORD = "|".join(["a", *_UNITS, *_TENS])
_WORDS = rf"(?P<words>(?:{_FIRST_WORD})\b(?:[\s-]+[A-Za-z]+){{0,7}})"
_MARKER = r"answer(?:\s+(?:is|was|would\s+be|will\s+be|should\s+be))?"
_FILLER = r"[\s*_:=]*"
_EXPLICIT = [
    re.compile(rf"\b{_MARKER}{_FILLER}{_NUMBER}", re.IGNORECASE),
    re.compile(rf"\b{_MARKER}{_FILLER}{_WORDS}", re.IGNORECASE),
    re.compile(r"\\boxed\{(?P<inner>[^{}]{0,80})\}"),
    re.compile(rf"=\s*{_NUMBER}[\s.!*]*$"),
]


def _normalize(sign: str | None, digits: str) -> str:
    """'1,234.50' -> '1234.5'; exact string arithmetic, so no float rounding and no size limit."""
    whole, _, frac = digits.replace(",", "").partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    value = whole + ("." + frac if frac else "")
    return value if value == "0" or not sign else "-" + value


def _from_match(m: re.Match[str]) -> str | None:
    groups = m.groupdict()
    if groups.get("num"):
        return _normalize(groups.get("sign"), groups["num"])
    if groups.get("words"):
        return _word_numbers(groups["words"], last=False)
    if groups.get("inner") is not None:
        found = _NUMBER_RE.search(groups["inner"])
        return _normalize(found["sign"], found["num"]) if found else _word_numbers(groups["inner"])
    return None


def _word_numbers(text: str, last: bool = True) -> str | None:
    """The last (or first) number spelled in words, up to the thousands; None when none.

    A word that cannot continue the number being read ends it ("five six" is two numbers);
    "a" and "and" count only inside a number ("a hundred and three").
    """
    found: list[int] = []
    total = current = 0  # total: the thousands read so far; current: the part below a thousand
    prev = ""  # the previous token, while inside a number; "" outside one

    def close() -> None:
        nonlocal total, current, prev
        if prev not in ("", "a"):
            found.append(total + current)
        total, current, prev = 0, 0, ""

    for tok in _TOKEN_RE.findall(text.lower()):
        small = _UNITS.get(tok, _TENS.get(tok))
        if tok == "zero":
            close()
            found.append(0)
        elif small is not None:
            joins = prev in ("hundred", "thousand", "and") or (prev in _TENS and small < 10)
            if not joins:
                close()
            current += small
            prev = tok
        elif tok == "hundred" and prev not in ("", "and", "hundred", "thousand") and current < 100:
            current, prev = max(current, 1) * 100, tok
        elif tok == "thousand" and prev not in ("", "and", "thousand") and total == 0:
            total, current, prev = max(current, 1) * 1000, 0, tok
        elif tok == "and" and prev in ("hundred", "thousand"):
            prev = tok
        else:
            close()
            prev = "a" if tok == "a" else ""
        if not last and found:
            return str(found[0])
    close()
    if not found:
        return None
    return str(found[-1] if last else found[0])


def extract_number(text: str) -> str | None:
    """The normalized number `text` commits to ("42", "-3", "3.5"), or None. Never raises."""
    if not isinstance(text, str):
        return None
    try:
        explicit = [m for pattern in _EXPLICIT for m in pattern.finditer(text)]
        for m in sorted(explicit, key=lambda m: m.start(), reverse=True):
            value = _from_match(m)
            if value is not None:
                return value
        numbers = list(_NUMBER_RE.finditer(text))
        if numbers:
            return _from_match(numbers[-1])
        return _word_numbers(text)
    except Exception:  # noqa: BLE001 - a bad answer is None, never a crashed round
        return None


def _to_decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    cleaned = re.sub(r"[\s,$%]", "", str(value)).replace("\u2212", "-")
    try:
        number = Decimal(cleaned)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def numbers_equal(a: str | None, b: str | None) -> bool:
    """Numeric equality tolerant to formatting ("4.0" == "4", "1,234" == "1234").

    None (no answer) is never equal to anything, not even to None: no answer is never correct.
    """
    x, y = _to_decimal(a), _to_decimal(b)
    return x is not None and y is not None and x == y


def majority_vote(answers: list[str | None]) -> tuple[str | None, float]:
    """The most common extracted answer and its share of all m samples (None if none parse).

    Ties go to the answer reached first, so the vote is deterministic.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0.0
    best = max(counts, key=lambda a: (counts[a], -answers.index(a)))
    return best, counts[best] / len(answers)
