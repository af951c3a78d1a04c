"""The bar a label must beat: a classifier that tells A's texts from B's with no words.

Logistic regression on TF-IDF word n-grams and on the MiniLM embeddings, cross-validated
with folds grouped by prompt (a prompt's texts never straddle train and test), scored by
ROC AUC of the out-of-fold probabilities.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline


def _cv_auc(model_factory, x, y: np.ndarray, groups: list[str], folds: int) -> float | None:
    folds = min(folds, len(set(groups)))
    if folds < 2 or len(set(y.tolist())) < 2:
        return None
    proba = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(set(y[train].tolist())) < 2:
            return None
        model = model_factory().fit(
            x[train] if not isinstance(x, list) else [x[i] for i in train], y[train]
        )
        xt = x[test] if not isinstance(x, list) else [x[i] for i in test]
        proba[test] = model.predict_proba(xt)[:, 1]
    return float(roc_auc_score(y, proba))


def classifier_baseline(
    texts: list[str], is_b: np.ndarray, groups: list[str], emb: np.ndarray, folds: int = 5
) -> dict:
    y = np.asarray(is_b, dtype=int)
    tfidf = lambda: make_pipeline(  # noqa: E731
        TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]"
        ),
        LogisticRegression(C=1.0, max_iter=1000),
    )
    logreg = lambda: LogisticRegression(C=1.0, max_iter=1000)  # noqa: E731
    try:
        t_auc = _cv_auc(tfidf, [t or "." for t in texts], y, groups, folds)
    except ValueError:  # empty vocabulary: nothing to tell apart by words
        t_auc = None
    return {
        "tfidf_auc": t_auc,
        "embedding_auc": _cv_auc(logreg, emb, y, groups, folds),
        "folds": min(folds, len(set(groups))),
    }
