"""The 2-D map of every text, coloured by model: PCA of the embeddings, saved as JSON (for
the HTML report) and as a self-contained SVG (no plotting dependency)."""

from __future__ import annotations

from html import escape

import numpy as np
from sklearn.decomposition import PCA

COLORS = {"a": "#1f77b4", "b": "#d62728"}


def project(emb: np.ndarray, records: list[dict], labels: np.ndarray, seed: int) -> dict:
    n_comp = min(2, emb.shape[0], emb.shape[1])
    pca = PCA(n_components=n_comp, random_state=seed)
    xy = pca.fit_transform(emb)
    if n_comp < 2:
        xy = np.hstack([xy, np.zeros((len(xy), 2 - n_comp))])
    points = [
        {
            "x": round(float(x), 5),
            "y": round(float(y), 5),
            "model": r["model"],
            "cluster": int(c),
            "prompt_id": r["prompt_id"],
            "category": r["category"],
            "text": r["text"][:200],
        }
        for (x, y), r, c in zip(xy, records, labels)
    ]
    return {
        "schema": "driftlab.diff/1",
        "method": "pca",
        "explained_variance": [round(float(v), 5) for v in pca.explained_variance_ratio_],
        "points": points,
    }


def svg(map_: dict, model_a: str, model_b: str, size: int = 640) -> str:
    pts = map_["points"]
    xs = np.array([p["x"] for p in pts] or [0.0])
    ys = np.array([p["y"] for p in pts] or [0.0])
    pad = 30
    sx = lambda v: pad + (v - xs.min()) / ((xs.max() - xs.min()) or 1) * (size - 2 * pad)  # noqa: E731
    sy = lambda v: size - pad - (v - ys.min()) / ((ys.max() - ys.min()) or 1) * (size - 2 * pad)  # noqa: E731
    dots = "".join(
        f'<circle cx="{sx(p["x"]):.1f}" cy="{sy(p["y"]):.1f}" r="2.5" fill="{COLORS[p["model"]]}" '
        f'fill-opacity="0.55"><title>{escape(p["model"].upper())} c{p["cluster"]}: '
        f"{escape(p['text'][:120])}</title></circle>"
        for p in pts
    )
    legend = (
        f'<text x="{pad}" y="18" font-size="13" fill="{COLORS["a"]}">A: {escape(model_a)}</text>'
        f'<text x="{size // 2}" y="18" font-size="13" fill="{COLORS["b"]}">'
        f"B: {escape(model_b)}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
        f"{legend}{dots}</svg>\n"
    )
