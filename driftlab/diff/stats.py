"""Per-cluster tests: did one model put more of its texts here than the other?

n in every test is the real number of texts in the cluster and in each model's sample,
never a configured count. Fisher's exact test on the 2x2 table (in cluster / elsewhere x
A / B). Both models answer the same prompts and samples are independent given the prompt,
so prompt effects are balanced between A and B and the unpaired test is conservative.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import false_discovery_control, fisher_exact


def bh(pvalues: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q), in input order."""
    if not pvalues:
        return []
    return [
        float(q) for q in false_discovery_control(np.asarray(pvalues, dtype=float), method="bh")
    ]


def cohens_h(p_b: float, p_a: float) -> float:
    """Effect size of two proportions (Cohen 1988): 0.2 small, 0.5 medium, 0.8 large."""
    return 2 * math.asin(math.sqrt(p_b)) - 2 * math.asin(math.sqrt(p_a))


def cluster_tests(labels: np.ndarray, is_b: np.ndarray, alpha: float) -> list[dict]:
    """One row per cluster: counts, shares, effect sizes, Fisher p and BH q; sorted by p."""
    labels, is_b = np.asarray(labels), np.asarray(is_b, dtype=bool)
    n_b_all, n_a_all = int(is_b.sum()), int((~is_b).sum())
    rows = []
    for c in sorted(set(labels.tolist())):
        inside = labels == c
        n_b, n_a = int((inside & is_b).sum()), int((inside & ~is_b).sum())
        _, p = fisher_exact([[n_b, n_b_all - n_b], [n_a, n_a_all - n_a]])
        share_a = n_a / n_a_all if n_a_all else 0.0
        share_b = n_b / n_b_all if n_b_all else 0.0
        rows.append(
            {
                "id": int(c),
                "n_a": n_a,
                "n_b": n_b,
                "share_a": share_a,
                "share_b": share_b,
                "diff": share_b - share_a,
                "cohens_h": cohens_h(share_b, share_a),
                "log2_ratio": math.log2(
                    ((n_b + 0.5) / (n_b_all + 1)) / ((n_a + 0.5) / (n_a_all + 1))
                ),
                "p": float(p),
                "more_in": "b" if share_b > share_a else "a",
            }
        )
    for row, q in zip(rows, bh([float(r["p"]) for r in rows])):
        row["q"] = q
        row["significant"] = bool(q < alpha and row["n_a"] != row["n_b"])
    return sorted(rows, key=lambda r: (r["p"], -abs(r["cohens_h"])))


def paired_auc(fit_pos: np.ndarray) -> float:
    """AUC of a judge's fit scores: positive texts score fit_pos, their partners 1 - fit_pos.

    Mann-Whitney over all positive x negative texts (ties count one half).
    """
    pos = np.asarray(fit_pos, dtype=float)
    neg = 1.0 - pos
    if pos.size == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def permutation_p(fit_pos: np.ndarray, permutations: int, seed: int) -> float:
    """One-sided p of the paired AUC: under the null, which text of a pair is the positive one
    is exchangeable, so each permutation swaps roles within random pairs."""
    pos = np.asarray(fit_pos, dtype=float)
    if pos.size == 0:
        return float("nan")
    observed = paired_auc(pos)
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        flip = rng.random(pos.size) < 0.5
        hits += paired_auc(np.where(flip, 1.0 - pos, pos)) >= observed - 1e-12
    return (hits + 1) / (permutations + 1)
