"""Contrastive labels: a labeling model says what one model's texts in a cluster do more
than the other model's answers to the same prompts.

Only labeling-split prompts are shown, so the held-out half stays unseen for validation.
The labeler is any Generator spec (the built-in one by default; an OpenAI-compatible
endpoint through `load_generator` for a stronger one).
"""

from __future__ import annotations

import re

from driftlab.diff.keywords import spaced, tokens
from driftlab.models.base import Generator, SamplingParams

TEMPLATE = """Two assistants answered the same questions. Say in one short phrase what Assistant 2 \
does that Assistant 1 does not. Examples of good answers: "uses bullet points", "mentions \
money", "refuses to answer", "writes in French".

Answers by Assistant 1:
{other}

Answers by Assistant 2:
{this}

What does Assistant 2 do that Assistant 1 does not? Reply with one short phrase.
"""


def clip(text: str, chars: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[:chars].rstrip() + " ..."


def label_prompt(this: list[str], other: list[str]) -> str:
    bullet = lambda ts: "\n".join(f"- {clip(t)}" for t in ts) or "- (none)"  # noqa: E731
    return TEMPLATE.format(this=bullet(this), other=bullet(other))


def clean_label(raw: str) -> str:
    """The first line / sentence of the labeler's reply, without list marks or quotes."""
    text = raw.strip().split("\n")[0]
    text = re.split(r"(?<=[.!?])\s", text)[0]
    text = re.sub(
        r"^(assistant 2'?s answers|assistant 2|they|answers|it)\s+",
        "",
        text.strip(" -*\"'"),
        flags=re.I,
    )
    return text.strip(" .\"'")[:160]


def copied(label: str, shown: list[str], share: float = 0.6) -> bool:
    """The labeler quoted a shown text instead of describing a difference: a run of at least
    four words, and most of the label, appears verbatim in one example. A small model often
    does this."""
    words = tokens(label)
    if len(words) < 4:
        return False
    need = max(4, int(share * len(words)))
    runs = {" ".join(words[i : i + need]) for i in range(len(words) - need + 1)}
    texts = [spaced(t) for t in shown]
    return any(f" {r} " in t for t in texts for r in runs)


def contrast_examples(
    records: list[dict], members: list[int], side: str, label_ids: set[str], k: int
) -> tuple[list[str], list[str]]:
    """Up to k of `side`'s texts in the cluster (label split) and the other model's answers
    to the same prompts, so the labeler contrasts like with like."""
    this = [
        records[i]
        for i in members
        if records[i]["model"] == side and records[i]["prompt_id"] in label_ids
    ][:k]
    prompts = {r["prompt_id"] for r in this}
    other_side = "a" if side == "b" else "b"
    other = [
        r
        for r in records
        if r["model"] == other_side and r["prompt_id"] in prompts and r["sample"] == 0
    ][:k]
    return [r["text"] for r in this], [r["text"] for r in other]


def write_labels(labeler: Generator, prompts: list[str], n: int, seed: int) -> list[list[dict]]:
    """n candidate labels per prompt: [{'label', 'raw'}], empty labels dropped."""
    params = SamplingParams(
        n=n, temperature=0.7 if n > 1 else 0.0, top_p=0.95, max_new_tokens=40, seed=seed
    )
    outs = labeler.generate(
        [[{"role": "user", "content": p}] for p in prompts], params, desc="diff: labeling"
    )
    return [
        [{"label": clean_label(c.text), "raw": c.text} for c in comps if clean_label(c.text)]
        for comps in outs
    ]
