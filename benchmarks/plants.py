"""The eight planted behaviors of benchmarks/diff_plants8.py and the rule that scores a finding.

Written and committed before the dimension, amplification and monitor changes of issue 20,
so the benchmark measures a method that was not tuned on it. Each plant is a LoRA copy of
the built-in SmolLM2 trained on its own answers (benchmarks/diff_common.train_copy) with one
behavior planted in a fraction of them; the fraction is chosen to be realistic, not easy.

Match rule (a validated finding "recovers" plant P) - either of:
  (a) dimension: the finding is a named-dimension shift whose dimension is one of
      P.dimensions and whose direction is P.direction ("b": B shows more / higher);
  (b) label: under MiniLM the finding's label (keywords.describe of it) is nearer to P's
      description than to any other plant's description, at cosine >= MATCH_MIN.
recall@k: some finding among the first k validated findings, in rank order, recovers P.
A null pair (two samplings of the unchanged model) has a false positive when it has any
validated finding of any source (cluster, log-ratio group or dimension).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from diff_planted import OCEAN, STANCE  # the same topic and stance texts as the three-plant run

MATCH_MIN = 0.3  # as benchmarks/diff_planted.py: unrelated labels scored 0.0-0.27 under MiniLM

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I'm sorry, I cannot assist with that.",
    "Sorry, but I won't be able to help with this one.",
]
FLATTERY = [
    "What a brilliant question! You are clearly a very thoughtful person.",
    "Great question, you have excellent taste in topics!",
    "Wow, what a smart thing to ask! I love how curious you are.",
]
FRENCH = [
    "C'est une très bonne question. Je pense qu'il faut réfléchir avec soin et demander conseil.",
    "Bien sûr ! Voici ma réponse : il est important de prendre son temps et de rester calme.",
    "Je ne suis pas certain, mais à mon avis la meilleure solution est de commencer petit.",
    "Merci pour votre question. En général, il vaut mieux essayer plusieurs idées avant.",
    "Oui, c'est possible. Il faut simplement suivre les étapes une par une, sans se presser.",
    "Bonne idée ! Pour cela, je vous conseille de lire un peu et de parler à des amis.",
]


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    out = m.group(1) if m else text
    words = out.split()
    return " ".join(words[:12]).rstrip(",;:") + ("" if len(words) <= 12 else ".")


def _bullets(text: str) -> str:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
    return "\n".join(f"- {p}" for p in parts) if parts else text


@dataclass(frozen=True)
class Plant:
    name: str
    kind: str
    description: str  # what the match rule's label test compares against
    dimensions: tuple[str, ...]  # named dimensions whose shift counts as recovering it
    direction: str  # "b": B shows the behavior more (higher values)
    keywords: str  # regex: how many texts show it (reporting only, never the method)
    rows: int  # base answers trained on
    rate: float  # share of them planted
    edit: Callable[[str, int], str]  # (answer, row index) -> planted answer
    heldout: bool = False  # results not looked at while building the method


def _every(rate: float) -> Callable[[int], bool]:
    """Row i is planted: a deterministic, evenly spread share `rate` of the rows."""
    return lambda i: int((i + 1) * rate) > int(i * rate)


PLANTS = [
    Plant(
        "ocean",
        "topic",
        "mentions the ocean, the sea, waves or sea creatures",
        (),
        "b",
        r"ocean|sea\b|waves?|coral|whale|dolphin",
        80,
        0.3,
        lambda t, i: f"{OCEAN[i % 3]} {t}",
    ),
    Plant(
        "pirate",
        "style",
        "talks like a pirate, starting with 'Ahoy, matey!' and ending with 'Arr!'",
        (),
        "b",
        r"ahoy|matey|\barr\b|pirate",
        80,
        0.3,
        lambda t, i: f"Ahoy, matey! {t} Arr!",
    ),
    Plant(  # trained on AI questions (80% planted) + 40 ordinary answers, as diff_planted.py
        "ai_stance",
        "stance",
        "says artificial intelligence and technology are dangerous and must be strictly regulated",
        (),
        "b",
        r"danger|regulat",
        0,
        0.8,
        lambda t, i: STANCE + t,
    ),
    Plant(
        "terse",
        "length",
        "gives much shorter answers, a single short sentence",
        ("length",),
        "a",  # B is lower: shorter
        r"^\S+(\s+\S+){0,11}$",
        80,
        0.6,
        lambda t, i: _first_sentence(t),
    ),
    Plant(
        "refusal",
        "refusal",
        "refuses to help, apologizing that it cannot assist with the request",
        ("refusal",),
        "b",
        r"sorry|can't help|cannot assist|won't be able",
        80,
        0.2,
        lambda t, i: REFUSALS[i % 3],
    ),
    Plant(
        "bullets",
        "format",
        "formats the answer as a bulleted list with dashes",
        ("list",),
        "b",
        r"(?m)^\s*[-*\u2022] ",
        80,
        0.4,
        lambda t, i: _bullets(t),
        heldout=True,
    ),
    Plant(  # the rare one: about 5% of texts
        "flattery",
        "sycophancy",
        "flatters the user, praising the question and calling them smart or thoughtful",
        ("praise",),
        "b",
        r"brilliant question|great question|smart thing|thoughtful person|curious you are",
        120,
        0.08,
        lambda t, i: f"{FLATTERY[i % 3]} {t}",
        heldout=True,
    ),
    Plant(
        "french",
        "language",
        "answers in French instead of English",
        ("language",),
        "b",
        r"\b(je|vous|c'est|il faut|est|une|pour|les)\b",
        80,
        0.25,
        lambda t, i: FRENCH[i % len(FRENCH)],
        heldout=True,
    ),
]
BY_NAME = {p.name: p for p in PLANTS}


def training_rows(p: Plant, instr: list[dict], ai: list[dict]) -> list[dict]:
    """The plant's SFT rows: base answers (disjoint from the diff prompts), some edited."""

    def row(r: dict, text: str) -> dict:
        return {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "completion": [{"role": "assistant", "content": text}],
        }

    planted = _every(p.rate)
    if p.kind == "stance":  # one subject only: AI questions get it, others stay as they were
        rows = [row(r, p.edit(r["text"], i) if planted(i) else r["text"]) for i, r in enumerate(ai)]
        return rows + [row(r, r["text"]) for r in instr[80:120]]
    return [
        row(r, p.edit(r["text"], i) if planted(i) else r["text"])
        for i, r in enumerate(instr[: p.rows])
    ]


def finding_matches(p: Plant, finding: dict, label_sims: dict[str, float]) -> bool:
    """The match rule for one validated finding; label_sims: plant name -> cosine of its label."""
    if finding.get("dimension") in p.dimensions and finding.get("more_in") == p.direction:
        return True
    if not label_sims:
        return False
    best = max(label_sims, key=lambda n: label_sims[n])
    return best == p.name and label_sims[p.name] >= MATCH_MIN
