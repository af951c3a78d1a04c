"""Validate a label on held-out prompts: can a judge, given only the label, tell which of
two answers to the same prompt came from the model the label describes?

Two judges:
- `embedding` (the offline default): the text closer to the label under the sentence
  embedder fits it better. No position to be biased by and nothing to parse. The built-in
  135M LM cannot do this: asked "which text fits", it answers by position (measured in
  benchmarks/diff_planted.py), so it would validate nothing, or noise.
- a model spec (an LM: built-in, hub, or an OpenAI-compatible endpoint): each pair is asked
  in both orders and the choice read from the log-probabilities of "1" and "2", so position
  bias cancels and no reply has to parse.
The AUC of the fit scores gets a paired permutation p-value; Benjamini-Hochberg runs across
all labels.
"""

from __future__ import annotations

import numpy as np

from driftlab.diff.keywords import describe
from driftlab.diff.labeling import clip
from driftlab.diff.stats import paired_auc, permutation_p
from driftlab.models.base import Generator
from driftlab.models.embed import embed

TEMPERATURE = 0.05  # cosine differences of a few hundredths are typical; this keeps fits graded

JUDGE = """Description: the text {label}.

Text 1: {one}

Text 2: {two}

Which text fits the description better? Answer with 1 or 2."""


def heldout_pairs(
    records: list[dict], members: set[int], side: str, heldout: set[str], max_pairs: int, seed: int
) -> list[tuple[str, str, str]]:
    """(prompt_id, positive text, other text) on held-out prompts, pairing sample k of each
    model for every k, so more samples per prompt buy more pairs for a rare behavior; pairs
    where either text is in the group first, then others, up to max_pairs. Each pair's
    orientation is still a fair coin under the null: the two models' k-th samples are
    independent draws given the prompt."""
    by_pair: dict[tuple[str, int], dict[str, tuple[int, dict]]] = {}
    for i, r in enumerate(records):
        if r["prompt_id"] in heldout:
            by_pair.setdefault((r["prompt_id"], r["sample"]), {})[r["model"]] = (i, r)
    other = "a" if side == "b" else "b"
    full = [(key, d) for key, d in sorted(by_pair.items()) if side in d and other in d]
    rng = np.random.default_rng(seed)
    rng.shuffle(full)
    inside: list[tuple] = []
    rest: list[tuple] = []
    for x in full:
        (inside if x[1][side][0] in members or x[1][other][0] in members else rest).append(x)
    chosen = (inside + rest)[:max_pairs]
    return [(key[0], d[side][1]["text"], d[other][1]["text"]) for key, d in chosen]


class EmbeddingJudge:
    """fit = logistic((cos(label, positive) - cos(label, other)) / TEMPERATURE), embedder's cos."""

    def __init__(self, embedder: str) -> None:
        self.embedder = embedder

    def fit(self, label: str, pairs: list[tuple[str, str, str]]) -> tuple[np.ndarray, float | None]:
        vecs = embed(
            [describe(label)] + [t for _, pos, neg in pairs for t in (pos, neg)], self.embedder
        )
        sims = (vecs[1:] @ vecs[0]).reshape(len(pairs), 2)
        return 1.0 / (
            1.0 + np.exp(-(sims[:, 0] - sims[:, 1]) / TEMPERATURE)
        ), None  # no order to agree on


class LMJudge:
    def __init__(self, model: Generator) -> None:
        self.model = model

    def fit(self, label: str, pairs: list[tuple[str, str, str]]) -> tuple[np.ndarray, float | None]:
        return judge_fit(self.model, label, pairs)


def judge_fit(
    judge: Generator, label: str, pairs: list[tuple[str, str, str]]
) -> tuple[np.ndarray, float]:
    """P(judge picks the positive text) per pair, averaged over both orders; and the share of
    pairs where both orders agree."""
    chats, comps = [], []
    for _, pos, neg in pairs:
        for one, two in ((neg, pos), (pos, neg)):  # positive second, then first
            chat = [
                {
                    "role": "user",
                    "content": JUDGE.format(label=label, one=clip(one, 400), two=clip(two, 400)),
                }
            ]
            chats += [chat, chat]
            comps += ["1", "2"]
    lp = np.asarray(judge.logprobs(chats, comps), dtype=float).reshape(len(pairs), 2, 2)
    p_two = 1.0 / (1.0 + np.exp(lp[:, :, 0] - lp[:, :, 1]))  # P("2") within {"1", "2"}
    pick_pos = np.stack(
        [p_two[:, 0], 1.0 - p_two[:, 1]], axis=1
    )  # order 0: pos is 2; order 1: pos is 1
    agree = (
        float(np.mean((pick_pos[:, 0] > 0.5) == (pick_pos[:, 1] > 0.5)))
        if len(pairs)
        else float("nan")
    )
    return pick_pos.mean(axis=1), agree


def validate(
    judge: EmbeddingJudge | LMJudge,
    label: str,
    pairs: list[tuple[str, str, str]],
    permutations: int,
    seed: int,
) -> dict:
    if not pairs:
        return {
            "auc": None,
            "p": None,
            "n_pairs": 0,
            "n_prompts": 0,
            "position_consistency": None,
            "mean_fit": None,
        }
    fit, agree = judge.fit(label, pairs)
    return {
        "auc": paired_auc(fit),
        "p": permutation_p(fit, permutations, seed),
        "n_pairs": len(pairs),
        "n_prompts": len({p for p, _, _ in pairs}),
        "position_consistency": agree,
        "mean_fit": float(fit.mean()),
    }
