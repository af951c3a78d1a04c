"""Diversity: distinct-n of sampled answers, answer entropy, length (mode-collapse signals).

Self-training on its own majority paths can narrow what a model says; these fall first.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from pydantic import Field

from driftlab.monitors.base import MONITORS, EvalSampling, MeasureContext, MonitorResult


class DiversityConfig(EvalSampling):
    max_n: int = Field(3, ge=1, le=5, description="distinct-1..max_n")


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over whitespace tokens (Li et al. 2016); 0 if none."""
    grams = [tuple(t[i : i + n]) for t in (x.split() for x in texts) for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def entropy(items: list) -> float:
    """Shannon entropy in bits of the empirical distribution of `items`."""
    counts = Counter(items)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


@MONITORS.register("diversity")
class Diversity:
    name = "diversity"
    Config = DiversityConfig

    def __init__(self, config: DiversityConfig) -> None:
        self.cfg = config

    def fit(self, baseline: MonitorResult | None) -> Diversity:
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        samples = ctx.eval_samples(self.cfg, self.cfg.samples)
        texts = [c.text for comps in samples for c in comps]
        metrics = {f"distinct_{n}": distinct_n(texts, n) for n in range(1, self.cfg.max_n + 1)}
        # Within one question: do the m samples still differ from each other?
        metrics["distinct_2_within"] = float(
            np.mean([distinct_n([c.text for c in comps], 2) for comps in samples])
        )
        metrics["answer_entropy"] = float(
            np.mean([entropy([ctx.task.extract(c.text) for c in comps]) for comps in samples])
        )
        lengths = [c.num_tokens for comps in samples for c in comps]
        metrics["length_mean"] = float(np.mean(lengths))
        metrics["length_std"] = float(np.std(lengths))
        metrics["truncated_rate"] = float(
            np.mean([c.finish_reason == "length" for comps in samples for c in comps])
        )
        return MonitorResult(metrics)
