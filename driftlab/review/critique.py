"""Model-written critiques of proposed examples (Saunders et al. 2022, arXiv:2206.05802).

Saunders et al. found that showing human raters a model's critique of a text helps them find
flaws they would otherwise miss. Here the critique is advice to the reviewer, never a
decision. It is written by the round's own model (the one whose outputs are under review, so
its blind spots are what the reviewer should look past), once per round when the loop pauses,
greedily and briefly to keep the pause cheap, and cached in rounds/NNN/critiques.jsonl;
identical (prompt, reply) pairs share one critique.
"""

from __future__ import annotations

from driftlab.models.base import Generator, SamplingParams
from driftlab.review.examples import target_text
from driftlab.store import RunStore, read_jsonl, write_jsonl

PROMPT = (
    "Below is a request and a reply that may become training data for an AI assistant.\n\n"
    "Request: {prompt}\n\nReply: {reply}\n\n"
    "Point out the most likely flaw in the reply: a wrong step, a wrong final answer, a claim "
    "that is not supported, or text that does not answer the request. Be brief. If you find "
    "no flaw, say so."
)
CLIP = 1500  # characters of prompt and of reply shown to the critic


def critique_chat(row: dict) -> list[dict]:
    turns = row.get("prompt") or []
    prompt = turns[-1]["content"] if turns else ""
    return [
        {
            "role": "user",
            "content": PROMPT.format(prompt=prompt[:CLIP], reply=target_text(row)[:CLIP]),
        }
    ]


def write_critiques(
    store: RunStore, k: int, rows: list[dict], model: Generator, max_new_tokens: int
) -> list[dict]:
    """One critique per row, written once: [{"example", "critique", "finish"}] (cached)."""
    path = store.artifact(k, "critiques.jsonl")
    if path.exists():
        return read_jsonl(path)
    chats = [critique_chat(r) for r in rows]
    keys = [c[0]["content"] for c in chats]
    unique = list(dict.fromkeys(keys))
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    outs = model.generate(
        [[{"role": "user", "content": u}] for u in unique],
        params,
        desc=f"round {k}: critiques for review",
    )
    by_key = {u: o[0] for u, o in zip(unique, outs, strict=True)}
    records = [
        {"example": i, "critique": by_key[key].text, "finish": by_key[key].finish_reason}
        for i, key in enumerate(keys)
    ]
    write_jsonl(path, records)
    return records


def read_critiques(store: RunStore, k: int) -> dict[int, str]:
    path = store.artifact(k, "critiques.jsonl")
    return {r["example"]: r["critique"] for r in read_jsonl(path)} if path.exists() else {}
