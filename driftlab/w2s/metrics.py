"""Performance gap recovered, agreement, bootstrap intervals and early-stopping criteria.

PGR = (student - weak) / (ceiling - weak) (Burns et al. 2023, eq. in sec. 3): 0 means the
student only imitates its supervisor, 1 means it is as good as if trained on ground truth.
Intervals resample seeds and test items together (two-way bootstrap): a seed's training noise
and the luck of the test draw are both sources of error. SciPy's `bootstrap` resamples one
axis of paired samples, not both, hence the few lines below.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np


def pgr(weak: float, student: float, ceiling: float, min_gap: float = 1e-9) -> float | None:
    """None when there is no gap to recover (ceiling - weak < min_gap, a ceiling at or below its
    supervisor included): the ratio means nothing there, and near a zero gap it is noise blown up.
    """
    gap = ceiling - weak
    if gap < min_gap:
        return None
    return (student - weak) / gap


def bootstrap(
    stat: Callable[..., float | None],
    arrays: dict[str, np.ndarray],
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """{"mean": stat(all data), "ci": [lo, hi]}, each array [seeds, items] resampled on both axes
    with the same indices (paired). Resamples where stat is undefined are dropped; if more than half
    are, the interval is null."""
    first = next(iter(arrays.values()))
    n_seeds, n_items = first.shape
    point = stat(**arrays)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        si = rng.integers(0, n_seeds, n_seeds) if n_seeds > 1 else np.zeros(1, dtype=int)
        ii = rng.integers(0, n_items, n_items)
        v = stat(**{k: a[si][:, ii] for k, a in arrays.items()})
        if v is not None and np.isfinite(v):
            values.append(v)
    ci = None
    if len(values) > resamples / 2:
        lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
        ci = [round(float(lo), 4), round(float(hi), 4)]
    return {"mean": None if point is None else round(float(point), 4), "ci": ci}


def _pgr_stat(weak, student, ceiling, min_gap=1e-9):
    return pgr(weak.mean(), student.mean(), ceiling.mean(), min_gap)


def _mean(x):
    return x.mean()


def _masked(agree, mask):
    n = mask.sum()
    return None if n == 0 else (agree * mask).sum() / n


def summarize(
    weak_ok: np.ndarray,
    student_ok: np.ndarray,
    ceiling_ok: np.ndarray,
    agree: np.ndarray,
    resamples: int,
    min_gap: float = 1e-9,
) -> dict:
    """Accuracies, PGR and agreement (all / supervisor right / supervisor wrong) with intervals.
    Inputs are [seeds, test items] 0/1 arrays: correct or not, student agrees with supervisor or
    not.
    """
    arr = lambda x: np.asarray(x, dtype=float)  # noqa: E731
    w, s, c, a = arr(weak_ok), arr(student_ok), arr(ceiling_ok), arr(agree)
    return {
        "weak_acc": bootstrap(_mean, {"x": w}, resamples),
        "student_acc": bootstrap(_mean, {"x": s}, resamples),
        "ceiling_acc": bootstrap(_mean, {"x": c}, resamples),
        "pgr": bootstrap(
            partial(_pgr_stat, min_gap=min_gap), {"weak": w, "student": s, "ceiling": c}, resamples
        ),
        "agreement": {
            "all": bootstrap(_mean, {"x": a}, resamples),
            "supervisor_right": bootstrap(_masked, {"agree": a, "mask": w}, resamples),
            "supervisor_wrong": bootstrap(_masked, {"agree": a, "mask": 1 - w}, resamples),
        },
    }


# ---- early stopping without ground truth -------------------------------------------------------


def _xent(p: np.ndarray, t: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())


CRITERIA = ("last", "oracle", "weak_val_loss", "val_confidence", "prediction_stability")


def stopping_points(
    checkpoints: list[dict], test_labels: np.ndarray, val_weak: np.ndarray
) -> dict[str, int]:
    """The checkpoint each criterion picks. Only `oracle` looks at test labels (the paper's
    "cheating" early stopping, an upper bound); the others see the held-out part of B with weak
    labels at most:
    - weak_val_loss: lowest cross-entropy against the weak labels (what one would do naively);
    - val_confidence: most confident predictions on held-out B (mean |2p - 1|): a student that
      has found a salient concept is confident, one fitting weak errors grows unsure;
    - prediction_stability: fewest held-out predictions flipped since the previous evaluation."""
    acc = [
        float(((np.asarray(c["probs"]["test"]) > 0.5) == test_labels).mean()) for c in checkpoints
    ]
    out = {"last": len(checkpoints) - 1, "oracle": int(np.argmax(acc))}
    val = [np.asarray(c["probs"]["val"]) for c in checkpoints]
    if len(val_weak) == 0:
        return out
    out["weak_val_loss"] = int(np.argmin([_xent(v, val_weak) for v in val]))
    out["val_confidence"] = int(np.argmax([np.abs(2 * v - 1).mean() for v in val]))
    flips = [np.inf] + [
        float(((val[i] > 0.5) != (val[i - 1] > 0.5)).mean()) for i in range(1, len(val))
    ]
    out["prediction_stability"] = int(np.argmin(flips)) if len(val) > 1 else 0
    return out
