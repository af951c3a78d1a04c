"""A label candidate from word statistics, beside the labeling model's: the words that most
distinguish one model's texts in a group from the other model's answers.

Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), z-scored;
the same c-TF-IDF idea BERTopic labels topics with. A small labeler often writes no usable
description; these words still go through the same held-out validation as any label.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer


def distinctive_words(this: list[str], other: list[str], k: int = 3, z_min: float = 1.96) -> list[str]:
    """Up to k words/bigrams over-used in `this` against `other` (z > z_min)."""
    if not this or not other:
        return []
    vec = CountVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z']+\b", lowercase=True,
                          stop_words="english")  # "the" and "and" describe nothing
    try:
        counts = vec.fit_transform(["\n".join(this), "\n".join(other)]).toarray().astype(float)
    except ValueError:  # no words at all
        return []
    y_i, y_j = counts
    prior = (y_i + y_j) * 0.1 + 0.01
    a0, n_i, n_j = prior.sum(), y_i.sum(), y_j.sum()
    delta = (np.log((y_i + prior) / (n_i + a0 - y_i - prior))
             - np.log((y_j + prior) / (n_j + a0 - y_j - prior)))
    z = delta / np.sqrt(1 / (y_i + prior) + 1 / (y_j + prior))
    vocab = vec.get_feature_names_out()
    words: list[str] = []
    for i in np.argsort(-z):
        if z[i] <= z_min or len(words) == k:
            break
        if not any(w in vocab[i] or vocab[i] in w for w in words):  # skip overlapping n-grams
            words.append(str(vocab[i]))
    return words


KEYWORD_PREFIX = "uses the words "


def keyword_label(this: list[str], other: list[str]) -> str | None:
    words = distinctive_words(this, other)
    return KEYWORD_PREFIX + ", ".join(f'"{w}"' for w in words) if words else None
