"""Cluster the pooled texts of both models.

KMeans with k chosen by the highest mean silhouette (cosine) over a range of k, the
criterion reported with its scores; HDBSCAN (density, no k, noise = -1) as the option.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

CRITERION = "silhouette (cosine) over k in k_range, highest wins"


def kmeans_by_silhouette(
    x: np.ndarray, k_min: int, k_max: int, seed: int
) -> tuple[np.ndarray, dict]:
    """Labels and {'k', 'criterion', 'scores'}; one cluster when no k in range is usable."""
    n_distinct = len(np.unique(np.round(x, 5), axis=0))
    k_hi = min(k_max, n_distinct - 1, len(x) - 1)
    scores, best = {}, (None, -2.0)
    sample = min(len(x), 2000)  # silhouette is O(n^2): score a fixed random subset
    for k in range(max(2, k_min), k_hi + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
        if len(set(labels.tolist())) < 2:
            continue
        s = float(
            silhouette_score(x, labels, metric="cosine", sample_size=sample, random_state=seed)
        )
        scores[str(k)] = round(s, 5)
        if s > best[1]:
            best = (labels, s)
    if best[0] is None:
        return np.zeros(len(x), dtype=int), {
            "method": "kmeans",
            "k": 1,
            "criterion": CRITERION,
            "scores": scores,
        }
    labels = best[0]
    return labels, {
        "method": "kmeans",
        "k": int(len(set(labels.tolist()))),
        "criterion": CRITERION,
        "scores": scores,
    }


def hdbscan(x: np.ndarray, min_cluster_size: int) -> tuple[np.ndarray, dict]:
    labels = HDBSCAN(min_cluster_size=max(2, min_cluster_size), copy=True).fit_predict(x)
    k = len(set(labels.tolist()) - {-1})
    return labels, {
        "method": "hdbscan",
        "k": k,
        "criterion": f"HDBSCAN, min_cluster_size={min_cluster_size}",
        "scores": {},
        "noise": int((labels == -1).sum()),
    }


def cluster(
    x: np.ndarray, method: str, k_min: int, k_max: int, seed: int
) -> tuple[np.ndarray, dict]:
    if method == "hdbscan":
        return hdbscan(x, max(5, len(x) // 50))
    return kmeans_by_silhouette(x, k_min, k_max, seed)
