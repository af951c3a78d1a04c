"""Confidence intervals and the yes/no question shared by the probe scorers."""

from __future__ import annotations

import math

import numpy as np

from driftlab.models.base import Generator
from driftlab.models.judging import TwoChoice, judge


def mean_ci(
    values: list[float] | np.ndarray, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap over items (SciPy); NaN bounds under two items."""
    from scipy.stats import bootstrap

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    if np.ptp(x) == 0:  # every resample has the same mean
        return float(x.mean()), float(x.mean()), float(x.mean())
    res = bootstrap(
        (x,),
        np.mean,
        confidence_level=level,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(x.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)


def p_yes(model: Generator, questions: list[str], desc: str = "judging") -> list[float]:
    """P("Yes") against "No" as the first word of the judge's reply, per question (asked once)."""
    asked = [TwoChoice([{"role": "user", "content": q + "\nAnswer Yes or No."}]) for q in questions]
    return [v.p_forward for v in judge(model, asked, ("Yes", "No"), desc)]
