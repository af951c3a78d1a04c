"""The model writes new prompts from a few examples (self-instruct style few-shot prompting).

Used by self-rewarding LMs to grow its prompt set (Yuan et al. 2024, section 2.3: new prompts
from few-shot prompts built on the seed instructions) and by red teaming's few-shot generation
(Perez et al. 2022, section 3). Each request shows its own random draw of `shots` examples, so
the written prompts vary; replies are cleaned and filtered, and every raw reply is returned so
the record keeps what the model actually wrote.
"""

from __future__ import annotations

import random
import re

from driftlab.models.base import Generator, SamplingParams

_PREFIX = re.compile(
    r"^\s*(?:[-*#>\d.)\s]*)?(?:new\s+)?(?:task|question|prompt|request|instruction|message)"
    r"\s*\d*\s*[:.)-]\s*",
    re.IGNORECASE,
)


def clean_prompt(raw: str, min_chars: int = 10, max_chars: int = 400) -> str | None:
    """The first paragraph of a reply, without "Task 9:"-style prefixes or quotes; None if unfit."""
    text = raw.strip().split("\n\n")[0].strip()
    text = _PREFIX.sub("", text, count=1).strip().strip('"\u201c\u201d').strip()
    if not min_chars <= len(text) <= max_chars:
        return None
    if not re.search(r"[A-Za-z]{3}", text):
        return None
    return text


def fewshot_chat(examples: list[str], lead: str, label: str = "Task") -> list[dict[str, str]]:
    listing = "\n".join(f"{label} {i}: {e}" for i, e in enumerate(examples, start=1))
    ask = (
        f"{lead}\n\n{listing}\n\nWrite {label} {len(examples) + 1}: one new {label.lower()}, "
        f"different from those above. Reply with the {label.lower()} only."
    )
    return [{"role": "user", "content": ask}]


def write_prompts(
    model: Generator,
    examples: list[str],
    n: int,
    shots: int,
    seed: int,
    desc: str,
    lead: str,
    label: str = "Task",
    temperature: float = 1.0,
    top_p: float = 0.95,
    max_new_tokens: int = 64,
) -> list[dict]:
    """n attempts at a new prompt: [{"raw", "prompt" (None when filtered), "reason", "shots"}]."""
    if n <= 0 or not examples:
        return []
    rng = random.Random(seed)
    draws = [rng.sample(examples, min(shots, len(examples))) for _ in range(n)]
    params = SamplingParams(
        n=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
    )
    replies = model.generate([fewshot_chat(d, lead, label) for d in draws], params, desc=desc)
    seen = set(examples)
    out = []
    for draw, [c] in zip(draws, replies, strict=True):
        text = clean_prompt(c.text)
        reason = "kept"
        if text is None:
            reason = "unusable (empty, too short or too long)"
        elif text in seen:
            reason, text = "duplicate", None
        else:
            seen.add(text)
        out.append({"raw": c.text, "prompt": text, "reason": reason, "shots": draw})
    return out
