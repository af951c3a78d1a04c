"""A label-free signal beside the clusters: log p_B(x|prompt) - log p_A(x|prompt) per text.

Over both models' samples, the texts with the largest ratio are the most characteristic
of B (B would say them, A would not), the smallest of A.
"""

from __future__ import annotations

import numpy as np

from driftlab.models.base import Generator


def logprob_ratio(model_a: Generator, model_b: Generator, records: list[dict]) -> list[float]:
    chats = [[{"role": "user", "content": r["prompt"]}] for r in records]
    texts = [r["text"] for r in records]
    lp_a = np.asarray(model_a.logprobs(chats, texts))
    lp_b = np.asarray(model_b.logprobs(chats, texts))
    return (lp_b - lp_a).tolist()


def characteristic(records: list[dict], ratios: list[float], top: int = 5) -> dict:
    """The most B-like and most A-like texts, and each model's mean ratio over its own texts."""
    order = np.argsort(ratios)

    def row(i: int) -> dict:
        return {
            "prompt": records[i]["prompt"],
            "text": records[i]["text"],
            "model": records[i]["model"],
            "logratio": float(ratios[i]),
            "tokens": records[i].get("num_tokens"),
        }

    mean = {}
    for side in ("a", "b"):
        vals = [x for r, x in zip(records, ratios) if r["model"] == side]
        mean[side] = float(np.mean(vals)) if vals else None
    return {
        "b": [row(i) for i in order[::-1][:top]],
        "a": [row(i) for i in order[:top]],
        "mean_logratio": mean,
    }
