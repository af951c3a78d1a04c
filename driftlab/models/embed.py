"""Sentence embeddings (built-in MiniLM by default) through sentence-transformers.

One loaded embedder per (name, device) per process: monitors, dedup and diff share it.
Vectors come back L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from driftlab.errors import DriftlabError

DEFAULT_EMBEDDER = "minilm-l6"


@lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_EMBEDDER, device: str = "cpu"):
    from sentence_transformers import SentenceTransformer

    from driftlab.models.builtin import resolve

    try:
        return SentenceTransformer(resolve(name), device=device)
    except OSError as e:
        raise DriftlabError(f"cannot load embedder {name!r}: {e}") from None


def embed(texts: list[str], name: str = DEFAULT_EMBEDDER, batch_size: int = 64) -> np.ndarray:
    """(len(texts), dim) float32, unit rows; an empty list gives an empty (0, 0) array."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = load_embedder(name)
    vecs = model.encode(
        [t or " " for t in texts],
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return np.asarray(vecs, dtype=np.float32)
