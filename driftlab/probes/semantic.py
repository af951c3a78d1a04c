"""Semantic drift: how far answers to fixed concept prompts move from round 0's.

Distance is 1 - cosine of MiniLM embeddings of the round's and round 0's greedy answers;
optionally a fixed judge says whether both give the same meaning of the concept.
"""

from __future__ import annotations

import numpy as np

from driftlab.findings import Finding
from driftlab.models.base import Generator, SamplingParams
from driftlab.probes.stats import mean_ci, p_yes

SAME = (
    'Do these two answers give the same meaning of "{concept}"?\n\nAnswer 1: {a}\n\nAnswer 2: {b}'
)


def answer(model: Generator, items: list[dict], max_new_tokens: int, seed: int) -> list[dict]:
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    outs = model.generate(
        [[{"role": "user", "content": it["prompt"]}] for it in items],
        params,
        desc="semantic probes",
    )
    return [
        {"id": it["id"], "concept": it["concept"], "text": o[0].text} for it, o in zip(items, outs)
    ]


def compare(
    records: list[dict],
    baseline: list[dict],
    embedder: str,
    seed: int,
    warn: float,
    round_: int,
    judge: Generator | None = None,
) -> tuple[dict[str, float], list[Finding]]:
    from driftlab.models.embed import embed

    base = {r["id"]: r for r in baseline}
    pairs = [(r, base[r["id"]]) for r in records if r["id"] in base]
    if not pairs:
        return {}, []
    now = embed([r["text"] for r, _ in pairs], embedder)
    then = embed([b["text"] for _, b in pairs], embedder)
    dist = 1 - np.sum(now * then, axis=1)
    for (r, _), d in zip(pairs, dist):
        r["distance"] = float(d)
    mean, lo, hi = mean_ci(dist, seed)
    metrics = {
        "drift": mean,
        "drift_low": lo,
        "drift_high": hi,
        "drift_p90": float(np.percentile(dist, 90)),
        "unchanged_share": float(np.mean(dist < 1e-6)),
    }
    if judge is not None:
        same = p_yes(
            judge,
            [SAME.format(concept=r["concept"], a=b["text"], b=r["text"]) for r, b in pairs],
            "semantic probes: judging",
        )
        for (r, _), s in zip(pairs, same):
            r["same_meaning"] = s
        metrics["same_meaning"] = float(np.mean(same))
    findings = []
    if lo > warn:
        top = sorted(pairs, key=lambda p: -p[0]["distance"])[:3]
        names = ", ".join(f"{r['concept']} ({r['distance']:.2f})" for r, _ in top)
        findings.append(
            Finding(
                "semantic_drift",
                f"round {round_}: answers to concept probes moved "
                f"{mean:.2f} from round 0's (95% CI {lo:.2f} to {hi:.2f}); most: {names}",
                "warning",
                {"drift": mean, "low": lo, "high": hi, "top": [r["id"] for r, _ in top]},
            )
        )
    return metrics, findings
