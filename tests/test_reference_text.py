"""The perplexity reference text is what its README says, and it never changes."""

from __future__ import annotations

import hashlib
from importlib.resources import files

REFERENCE = files("driftlab") / "data" / "reference" / "human.txt"
# Changing the text breaks comparability with every earlier run: add a new file instead.
SHA256 = "599c332581420c868b586d8ac60e7233b012cea68f0f3c0017d0735b2985e5a7"


def _paragraphs() -> list[str]:
    return REFERENCE.read_text(encoding="utf-8").strip().split("\n\n")


def test_reference_text_is_unchanged():
    assert hashlib.sha256(REFERENCE.read_bytes()).hexdigest() == SHA256


def test_reference_text_shape_matches_readme():
    paragraphs = _paragraphs()
    assert len(paragraphs) == 40
    for p in paragraphs:
        assert 60 <= len(p.split()) <= 150, p[:40]
        assert "\n" not in p and p == p.strip()  # one line each, one blank line between
    assert len(set(paragraphs)) == 40


def test_reference_text_is_plain_ascii():
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.isascii() and "#" not in text and text.endswith("\n")
