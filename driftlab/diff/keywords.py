"""Label candidates from word statistics, beside the labeling model's. A small labeler often
writes no usable description; these go through the same held-out validation as any label.

- distinctive words: log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
  Quinn 2008), z-scored; the same c-TF-IDF idea BERTopic labels topics with. Names a topic.
- a shared phrase: the longest run of words that many of the group's texts repeat and the
  other model's texts do not. Names a templated behavior (a disclaimer, a greeting, a stance
  stated in the same words), which single words name only by its subject.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer


def distinctive_words(
    this: list[str], other: list[str], k: int = 3, z_min: float = 1.96
) -> list[str]:
    """Up to k words/bigrams over-used in `this` against `other` (z > z_min)."""
    if not this or not other:
        return []
    vec = CountVectorizer(
        ngram_range=(1, 2),
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z']+\b",
        lowercase=True,
        stop_words="english",
    )  # "the" and "and" describe nothing
    try:
        counts = vec.fit_transform(["\n".join(this), "\n".join(other)]).toarray().astype(float)
    except ValueError:  # no words at all
        return []
    y_i, y_j = counts
    prior = (y_i + y_j) * 0.1 + 0.01
    a0, n_i, n_j = prior.sum(), y_i.sum(), y_j.sum()
    delta = np.log((y_i + prior) / (n_i + a0 - y_i - prior)) - np.log(
        (y_j + prior) / (n_j + a0 - y_j - prior)
    )
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


PHRASE_PREFIX = "repeats the phrase "
PHRASE_WORDS = (4, 16)  # shorter runs are common idiom; longer ones are whole copied answers


def shared_phrase(this: list[str], other: list[str], min_share: float = 0.3) -> str | None:
    """The word run that accounts for most words of `this` (texts holding it x its length), held
    by at least min_share of them and two texts, and ten times as common there as in `other`."""
    runs = [tokens(t) for t in this]
    need = max(2, int(np.ceil(min_share * len(this))))
    counts: Counter = Counter()
    lo, hi = PHRASE_WORDS
    for w in runs:
        counts.update(
            {tuple(w[i : i + n]) for n in range(lo, hi + 1) for i in range(len(w) - n + 1)}
        )
    padded = [spaced(t) for t in other]
    for gram in sorted(
        (g for g, c in counts.items() if c >= need), key=lambda g: (-counts[g] * len(g), -len(g), g)
    ):
        phrase = " ".join(gram)
        share_other = sum(f" {phrase} " in o for o in padded) / max(1, len(padded))
        if share_other * 10 < counts[gram] / len(this):
            return phrase
    return None


def phrase_label(this: list[str], other: list[str]) -> str | None:
    phrase = shared_phrase(this, other)
    return f'{PHRASE_PREFIX}"{phrase}"' if phrase else None


def describe(label: str) -> str:
    """What a label says, for the embedding judge: a word or phrase label's words themselves,
    any other label as is."""
    if label.startswith(KEYWORD_PREFIX):
        return " ".join(w.strip(' "') for w in label[len(KEYWORD_PREFIX) :].split(","))
    if label.startswith(PHRASE_PREFIX):
        return label[len(PHRASE_PREFIX) :].strip('"')
    return label


def tokens(text: str) -> list[str]:
    """Lower-case words: what phrase matching and the copied-label check compare."""
    return re.findall(r"[a-z0-9']+", text.lower())


def spaced(text: str) -> str:
    """Words joined by single spaces, padded: `f" {run} " in spaced(t)` finds whole-word runs."""
    return f" {' '.join(tokens(text))} "
