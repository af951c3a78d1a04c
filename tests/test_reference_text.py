"""The perplexity reference texts are what their README says, and they never change."""

from __future__ import annotations

import csv
import hashlib
from importlib.resources import files

REFERENCE = files("driftlab") / "data" / "reference"
HUMAN, AI_DRAFTED = REFERENCE / "human.txt", REFERENCE / "ai_drafted.txt"
SOURCES = REFERENCE / "human_sources.tsv"
# Changing a text breaks comparability with every earlier run: add a new file instead.
SHA256 = {
    HUMAN: "17ad819a67c8d5268be46959cfbdc62975b451e353309067540b9db7a4be80c8",
    AI_DRAFTED: "599c332581420c868b586d8ac60e7233b012cea68f0f3c0017d0735b2985e5a7",
}
REGISTERS = {"fiction", "dialogue", "letters", "speech", "essay", "technical", "scientific"}
LICENSES = ("public domain", "PSF-2.0")


def _paragraphs(path) -> list[str]:
    return path.read_text(encoding="utf-8").strip().split("\n\n")


def _sources() -> list[dict[str, str]]:
    with SOURCES.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_reference_texts_are_unchanged():
    for path, sha in SHA256.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path.name


def test_reference_texts_shape_matches_readme():
    for path, n in [(HUMAN, 66), (AI_DRAFTED, 40)]:
        paragraphs = _paragraphs(path)
        assert len(paragraphs) == n == len(set(paragraphs))
        for p in paragraphs:
            assert 60 <= len(p.split()) <= 150, p[:40]
            assert "\n" not in p and p == p.strip()  # one line each, one blank line between
        text = path.read_text(encoding="utf-8")
        assert text.isascii() and "#" not in text and text.endswith("\n")
    # the human text is at least as large as the AI-drafted one it replaces as primary
    assert len(HUMAN.read_text("utf-8").split()) >= len(AI_DRAFTED.read_text("utf-8").split())


def test_every_human_passage_has_its_source_recorded():
    paragraphs, rows = _paragraphs(HUMAN), _sources()
    assert [int(r["passage"]) for r in rows] == list(range(1, len(paragraphs) + 1))
    for p, r in zip(paragraphs, rows):
        assert hashlib.sha256(p.encode()).hexdigest()[:16] == r["sha256_16"], r["passage"]
        assert r["package"].startswith(("pypi:", "debian:")) and r["location"] and r["file"]
        assert r["license"].startswith(LICENSES), r["license"]
        assert r["work"] and r["author"] and r["date"]
    registers = {r["register"] for r in rows}
    assert all(any(want in reg for reg in registers) for want in REGISTERS), registers
    assert len({r["work"] for r in rows}) >= 15  # no single work dominates the tails
