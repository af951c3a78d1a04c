"""Time and memory of the diff's analysis core on 2 x 2,000 texts: embed + cluster + stats.

Texts are built from the shipped human-written reference passages (2-4 random sentences
each); B has a planted topic in 10% of its texts, so the tests have something to find.
Peak resident memory is read from the OS (ru_maxrss) after each phase.

    flock /tmp/driftlab-heavy.lock python benchmarks/diff_scale.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from importlib import resources
from typing import Any

import numpy as np


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def texts(n: int, rng: np.random.Generator, planted: float) -> list[str]:
    raw = (
        resources.files("driftlab.data")
        .joinpath("reference", "ai_drafted.txt")  # the text its figures were measured on
        .read_text(encoding="utf-8")
    )
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", raw) if len(s.split()) > 4]
    out = []
    for _ in range(n):
        t = " ".join(rng.choice(sents, size=rng.integers(2, 5), replace=False))
        if rng.random() < planted:
            t += " By the way, the ocean and its waves always fascinate me."
        out.append(t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="texts per model")
    args = ap.parse_args()
    from driftlab.diff.clustering import cluster
    from driftlab.diff.stats import cluster_tests
    from driftlab.models.embed import embed
    from driftlab.models.hf import default_threads

    default_threads()
    rng = np.random.default_rng(0)
    all_texts = texts(args.n, rng, 0.0) + texts(args.n, rng, 0.1)
    is_b = np.array([False] * args.n + [True] * args.n)
    report: dict[str, Any] = {"texts": len(all_texts), "rss_start_mb": round(rss_mb())}
    t = time.perf_counter()
    emb = embed(all_texts)
    report["embed_s"] = round(time.perf_counter() - t, 1)
    report["rss_after_embed_mb"] = round(rss_mb())
    t = time.perf_counter()
    labels, info = cluster(emb, "kmeans", 2, 12, 0)
    report["cluster_s"] = round(time.perf_counter() - t, 1)
    report["k"] = info["k"]
    t = time.perf_counter()
    rows = cluster_tests(labels, is_b, 0.05)
    report["stats_s"] = round(time.perf_counter() - t, 3)
    report["rss_peak_mb"] = round(rss_mb())
    report["significant"] = [
        (r["id"], r["n_a"], r["n_b"], f"{r['q']:.1e}") for r in rows if r["significant"]
    ]
    t = time.perf_counter()
    labels_h, info_h = cluster(emb, "hdbscan", 2, 12, 0)
    report["hdbscan_s"] = round(time.perf_counter() - t, 1)
    report["hdbscan_k"], report["hdbscan_noise"] = info_h["k"], info_h["noise"]
    report["rss_peak_mb"] = round(rss_mb())
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
