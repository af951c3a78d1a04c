"""Confidence intervals for the numbers a run shows, so nobody reads noise as progress.

Proportions get Wilson's score interval (what statsmodels' `proportion_confint(...,
method="wilson")` gives; it keeps its coverage at the small n and extreme rates of 32
held-out questions, where the normal approximation does not). Everything else gets a
percentile bootstrap over items (questions, passages): the items are the unit that varies
between draws of an evaluation set, and resampling them needs no model of the statistic.
Resampling is seeded, so the same run gives the same intervals.

A change against round 0 is tested on the same items, paired: the round-to-round
variation of per-item scores cancels, so a paired interval is much narrower than two
independent ones (`paired_bootstrap`); capability's McNemar test is the exact version of
this for correctness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LEVEL = 0.95
N_BOOT = 1000


def wilson(successes: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for a proportion successes/n; (nan, nan) when n is 0."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(
    n_items: int,
    stat: Callable[[np.ndarray], float],
    seed: int = 0,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile interval of `stat(indices)` over resamples of the item indices."""
    if n_items < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = np.array([stat(rng.integers(0, n_items, n_items)) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def mean_ci(values: Sequence[float] | np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean of per-item values (NaN items left out)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    return bootstrap(len(x), lambda i: float(x[i].mean()), seed)


def paired_bootstrap(
    before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray, seed: int = 0
) -> tuple[float, float]:
    """Interval of mean(after - before) over the same items, resampled together."""
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    return bootstrap(len(d), lambda i: float(d[i].mean()), seed)


def interval(ci: tuple[float, float], method: str, n: int) -> dict[str, Any]:
    """How a monitor stores one metric's interval in metrics.json."""
    return {"lo": ci[0], "hi": ci[1], "method": method, "n": n, "level": LEVEL}


def paired_test(ci: tuple[float, float], what: str) -> dict[str, Any]:
    """A paired change against round 0, significant when its interval excludes 0."""
    return {"test": "paired bootstrap", "of": what, "ci": list(ci), "significant": excludes(ci, 0)}


def excludes(ci: Sequence[float] | None, value: float | None) -> bool:
    """True when a finite interval lies wholly on one side of value."""
    if ci is None or value is None or len(ci) != 2:
        return False
    lo, hi = ci
    if any(not isinstance(v, (int, float)) or math.isnan(v) for v in (lo, hi, value)):
        return False
    return value < lo or value > hi


def changed(metric: str, row: dict[str, Any], base: dict[str, Any]) -> bool:
    """Whether round `row` moved `metric` beyond noise from round 0 (`base`).

    A paired test stored by the monitor decides where there is one (row["tests"], each with
    "significant"); otherwise the round's interval must exclude round 0's value.
    """
    if row.get("round") == base.get("round"):
        return False
    test = (row.get("tests") or {}).get(metric)
    if isinstance(test, dict) and "significant" in test:
        return bool(test["significant"])
    return excludes((row.get("ci") or {}).get(metric), base.get(metric))
