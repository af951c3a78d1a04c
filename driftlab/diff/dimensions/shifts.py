"""Did a named dimension shift between A and B? Proposed on one half of the prompts, validated
on the other, and said in plain words with numbers.

Discovery uses the labeling half (the texts labels are written from; with amplified sampling,
B's amplified texts): Fisher's exact test for a proportion, Mann-Whitney U for a continuous
dimension, two-sided; those p-values join the clusters' in one Benjamini-Hochberg family.
A dimension significant there is a hypothesis; it is validated on the held-out prompts'
ordinary texts by the same test, one-sided in the proposed direction, whose p-values join the
label validations' in one BH family. The effect sizes are on all ordinary texts: Cohen's h
of the two proportions (for a continuous dimension, of the shares above the pooled median)
and the held-out AUC, P(a text of the model with more scores higher) with ties one half,
which ranking multiplies as it does a label's.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import fisher_exact, mannwhitneyu

from driftlab.diff.dimensions.base import Dimension
from driftlab.diff.stats import cohens_h


def measure(texts: list[str], dims: list[Dimension]) -> dict[str, list[float]]:
    return {d.name: [float(d.measure(t)) for t in texts] for d in dims}


def _test(d: Dimension, b: np.ndarray, a: np.ndarray, alternative: str) -> float:
    if b.size == 0 or a.size == 0:
        return 1.0
    if d.scale == "proportion":
        kb, ka = int(b.sum()), int(a.sum())
        _, p = fisher_exact([[kb, b.size - kb], [ka, a.size - ka]], alternative=alternative)
        return float(p)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(mannwhitneyu(b, a, alternative=alternative).pvalue)


def _auc(hi: np.ndarray, lo: np.ndarray) -> float | None:
    """P(a value of `hi` exceeds one of `lo`), ties one half."""
    if hi.size == 0 or lo.size == 0:
        return None
    diff = hi[:, None] - lo[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def summarize(d: Dimension, values: list[float]) -> float:
    """The statistic a dimension's sentence quotes: share, median or mean."""
    return _summary(d, np.asarray(values, dtype=float))


def _summary(d: Dimension, x: np.ndarray) -> float:
    if x.size == 0:
        return float("nan")
    if d.scale == "proportion" or d.summary == "mean":
        return float(x.mean())
    return float(np.median(x))


def statement(d: Dimension, a: float, b: float) -> str:
    """B's shift in words, with both models' numbers."""
    if d.scale == "proportion":
        how = "more often" if b > a else "less often"
        return f"B's answers {d.does} {how}: {b:.0%} of B's answers vs {a:.0%} of A's"
    word = d.higher if b > a else d.lower
    return f"B's answers are {word}: {d.summary} {b:{d.fmt}} vs {a:{d.fmt}} {d.unit}".rstrip()


def shift_rows(
    records: list[dict],
    values: dict[str, list[float]],
    dims: list[Dimension],
    label_ids: set[str],
    heldout: set[str],
) -> list[dict]:
    """One row per dimension: both models' summaries on ordinary texts, the discovery p
    (two-sided, labeling half) and the direction it proposes; q and validation come later."""
    is_b = np.array([r["model"] == "b" for r in records])
    amp = np.array([bool(r.get("amplified")) for r in records])
    lab = np.array([r["prompt_id"] in label_ids for r in records])
    rows = []
    for d in dims:
        x = np.asarray(values[d.name], dtype=float)
        ordinary_a, ordinary_b = x[~is_b], x[is_b & ~amp]
        a, b = _summary(d, ordinary_a), _summary(d, ordinary_b)
        disc_b, disc_a = x[is_b & lab], x[~is_b & lab]
        p = _test(d, disc_b, disc_a, "two-sided")
        up = _summary(d, disc_b) > _summary(d, disc_a) or (
            _summary(d, disc_b) == _summary(d, disc_a) and b > a
        )
        if d.scale == "proportion":
            hit_a, hit_b = ordinary_a > 0.5, ordinary_b > 0.5
        else:  # shares above the pooled median: an h for a continuous dimension
            med = float(np.median(np.concatenate([ordinary_a, ordinary_b])))
            hit_a, hit_b = ordinary_a > med, ordinary_b > med
        share_a = float(hit_a.mean()) if hit_a.size else 0.0
        share_b = float(hit_b.mean()) if hit_b.size else 0.0
        rows.append(
            {
                "dimension": d.name,
                "scale": d.scale,
                "doc": d.doc,
                "a": a,
                "b": b,
                "summary": "share" if d.scale == "proportion" else d.summary,
                "more_in": "b" if up else "a",
                "p": p,
                "n_label": [int(disc_a.size), int(disc_b.size)],
                "statement": statement(d, a, b),
                "short": short(d, a, b),
                "effect": {
                    "diff": share_b - share_a,
                    "cohens_h": cohens_h(share_b, share_a),
                    "n_a": int(hit_a.sum()),
                    "n_b": int(hit_b.sum()),
                    "share_a": share_a,
                    "share_b": share_b,
                },
            }
        )
    return rows


def validate(
    row: dict, d: Dimension, records: list[dict], values: list[float], heldout: set[str]
) -> dict:
    """The proposed direction, tested one-sided on the held-out prompts' ordinary texts."""
    x = np.asarray(values, dtype=float)
    held = np.array([r["prompt_id"] in heldout and not r.get("amplified") for r in records])
    is_b = np.array([r["model"] == "b" for r in records])
    b, a = x[held & is_b], x[held & ~is_b]
    hi, lo = (b, a) if row["more_in"] == "b" else (a, b)
    return {
        "auc": _auc(hi, lo),
        "p": _test(d, hi, lo, "greater"),
        "n_pairs": int(min(b.size, a.size)),
        "n_prompts": len({r["prompt_id"] for r, h in zip(records, held) if h}),
        "n_a": int(a.size),
        "n_b": int(b.size),
        "position_consistency": None,
    }


def extremes(
    records: list[dict], values: list[float], side: str, high: bool, k: int = 3
) -> list[str]:
    """Up to k of one model's ordinary texts furthest in the shift's direction."""
    idx = [i for i, r in enumerate(records) if r["model"] == side and not r.get("amplified")]
    idx.sort(key=lambda i: -values[i] if high else values[i])
    return [records[i]["text"] for i in idx[:k]]


def short(d: Dimension, a: float, b: float) -> str:
    """A few words for a round table cell: "shorter (22 vs 55)", "refuse the request more"."""
    if d.scale == "proportion":
        how = "more" if b > a else "less"
        return f"{d.does} {how} ({b:.0%} vs {a:.0%})"
    return f"{d.higher if b > a else d.lower} ({b:{d.fmt}} vs {a:{d.fmt}})"
