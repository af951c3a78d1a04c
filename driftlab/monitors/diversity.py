"""Diversity: distinct-n, self-BLEU, embedding dispersion, answer entropy, length.

Self-training on its own majority paths can narrow what a model says (mode collapse);
these fall first. Lexical (distinct-n, self-BLEU) and semantic (MiniLM dispersion)
measures are both kept: a model can reword one idea endlessly, or say new things in
its old words. From round 1 on, a drop beyond `warn_drop` of round 0's value is a finding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from pydantic import Field

from driftlab.findings import Finding
from driftlab.intervals import bootstrap, interval, mean_ci
from driftlab.monitors.base import (
    MONITORS,
    Column,
    EvalSampling,
    MeasureContext,
    MonitorConfig,
    MonitorResult,
)


class DiversityConfig(EvalSampling):
    max_n: int = Field(3, ge=1, le=5, description="distinct-1..max_n")
    self_bleu: bool = Field(
        True, description="self-BLEU within each question's samples (sacrebleu)"
    )
    embedding: str | None = Field("minilm-l6", description="embedder for dispersion; none to skip")
    warn_drop: float = Field(
        0.2, gt=0, lt=1, description="relative fall from round 0 that is a finding"
    )


# Falling means less diverse for these; (metric, what it measures) for findings.
# recomputing a corpus statistic per resample is slower than a mean: fewer resamples
N_BOOT_POOLED = 300

WATCHED = {
    "distinct_2": "distinct bigrams",
    "distinct_2_within": "distinct bigrams within a question's samples",
    "dispersion": "embedding dispersion",
    "dispersion_within": "embedding dispersion within a question's samples",
    "answer_entropy": "answer entropy across samples",
}


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over whitespace tokens (Li et al. 2016); 0 if none."""
    grams = [tuple(t[i : i + n]) for t in (x.split() for x in texts) for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: list[str]) -> float:
    """Mean BLEU of each text against the others as references (Zhu et al. 2018); 1 = all alike.

    Texts are whitespace-normalised; fewer than two non-empty texts give NaN (undefined).
    """
    from sacrebleu.metrics import BLEU

    texts = [t for t in (" ".join(x.split()) for x in texts) if t]
    if len(texts) < 2:
        return float("nan")
    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(t, texts[:i] + texts[i + 1 :]).score for i, t in enumerate(texts)]
    return float(np.mean(scores)) / 100


def dispersion(vecs: np.ndarray) -> float:
    """Mean pairwise cosine distance of unit vectors; NaN for fewer than two."""
    n = len(vecs)
    if n < 2:
        return float("nan")
    sims = vecs @ vecs.T
    return float(1 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def entropy(items: list) -> float:
    """Shannon entropy in bits of the empirical distribution of `items`."""
    counts = Counter(items)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


@MONITORS.register("diversity")
class Diversity:
    name: ClassVar[str] = "diversity"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("dist-2", "distinct_2", "{:.3f}"),
        Column("len", "length_mean", "{:.0f}"),
        Column("ans H", "answer_entropy", "{:.2f}"),
    )
    figures: ClassVar[dict[str, str]] = {}
    Config: ClassVar[type[MonitorConfig]] = DiversityConfig

    def __init__(self, config: DiversityConfig) -> None:
        self.cfg = config
        self.baseline: dict[str, float] = {}

    @classmethod
    def metric_names(cls, config: DiversityConfig) -> list[str]:
        return [
            *(f"distinct_{n}" for n in range(1, config.max_n + 1)),
            "distinct_2_within",
            "answer_entropy",
            *(["self_bleu_within"] if config.self_bleu else []),
            *(["dispersion", "dispersion_within"] if config.embedding else []),
            "length_mean",
            "length_std",
            "length_p10",
            "length_p50",
            "length_p90",
            "truncated_rate",
        ]

    def fit(self, baseline: MonitorResult | None) -> Diversity:
        self.baseline = dict(baseline.metrics) if baseline else {}
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        samples = ctx.eval_samples(self.cfg, self.cfg.samples)
        texts = [c.text for comps in samples for c in comps]
        # per question, so intervals can resample questions (the m samples of one question
        # are not independent of each other)
        per_q: dict[str, list[float]] = {
            "distinct_2_within": [distinct_n([c.text for c in comps], 2) for comps in samples],
            "answer_entropy": [
                entropy([ctx.task.extract(c.text) for c in comps]) for comps in samples
            ],
        }
        metrics = {f"distinct_{n}": distinct_n(texts, n) for n in range(1, self.cfg.max_n + 1)}
        # Within one question: do the m samples still differ from each other?
        metrics["distinct_2_within"] = float(np.mean(per_q["distinct_2_within"]))
        metrics["answer_entropy"] = float(np.mean(per_q["answer_entropy"]))
        if self.cfg.self_bleu:
            per_q["self_bleu_within"] = [self_bleu([c.text for c in comps]) for comps in samples]
            metrics["self_bleu_within"] = _nanmean(per_q["self_bleu_within"])
        bounds = np.cumsum([0] + [len(comps) for comps in samples])
        vecs = None
        if self.cfg.embedding:
            from driftlab.models.embed import embed

            vecs = embed(texts, self.cfg.embedding)
            metrics["dispersion"] = dispersion(vecs)
            per_q["dispersion_within"] = [
                dispersion(vecs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])
            ]
            metrics["dispersion_within"] = _nanmean(per_q["dispersion_within"])
        lengths = np.array([c.num_tokens for comps in samples for c in comps])
        metrics["length_mean"] = float(np.mean(lengths))
        metrics["length_std"] = float(np.std(lengths))
        for q in (10, 50, 90):
            metrics[f"length_p{q}"] = float(np.percentile(lengths, q))
        truncated = np.array([c.finish_reason == "length" for comps in samples for c in comps])
        metrics["truncated_rate"] = float(np.mean(truncated))
        hist = np.histogram(lengths, bins=min(20, max(1, len(set(lengths.tolist())))))
        table = [
            {"tokens_from": float(lo), "tokens_to": float(hi), "count": int(n)}
            for lo, hi, n in zip(hist[1][:-1], hist[1][1:], hist[0])
        ]
        res = MonitorResult(
            metrics, findings=self._drops(metrics, ctx.round), tables={"length_hist": table}
        )
        res.intervals = self._intervals(per_q, texts, bounds, vecs, lengths, truncated, ctx.seed)
        return res

    def _intervals(self, per_q, texts, bounds, vecs, lengths, truncated, seed) -> dict[str, dict]:
        """Bootstrap over questions: a resample takes all m samples of each drawn question."""
        nq = len(bounds) - 1
        how = "bootstrap over questions"
        out = {k: interval(mean_ci(v, seed), how, nq) for k, v in per_q.items()}

        def rows(i: np.ndarray) -> np.ndarray:
            return np.concatenate([np.arange(bounds[q], bounds[q + 1]) for q in i])

        def distinct(n: int) -> Callable[[np.ndarray], float]:
            return lambda i: distinct_n([texts[j] for j in rows(i)], n)

        def length_pct(q: int) -> Callable[[np.ndarray], float]:
            return lambda i: float(np.percentile(lengths[rows(i)], q))

        pooled: dict[str, Callable[[np.ndarray], float]] = {
            **{f"distinct_{n}": distinct(n) for n in range(1, self.cfg.max_n + 1)},
            "length_mean": lambda i: float(np.mean(lengths[rows(i)])),
            "length_std": lambda i: float(np.std(lengths[rows(i)])),
            **{f"length_p{q}": length_pct(q) for q in (10, 50, 90)},
            "truncated_rate": lambda i: float(np.mean(truncated[rows(i)])),
        }
        if vecs is not None:
            pooled["dispersion"] = lambda i: dispersion(vecs[rows(i)])
        for k, f in pooled.items():
            out[k] = interval(bootstrap(nq, f, seed, n_boot=N_BOOT_POOLED), how, nq)
        return out

    def _drops(self, metrics: dict[str, float], round_: int) -> list[Finding]:
        """A finding per watched metric that fell more than warn_drop below round 0's."""
        out = []
        for key, what in WATCHED.items():
            base, now = self.baseline.get(key), metrics.get(key)
            if base is None or now is None or not base > 0 or math.isnan(now):
                continue
            fall = 1 - now / base
            if fall > self.cfg.warn_drop:
                out.append(
                    Finding(
                        "diversity",
                        f"{what} fell {fall:.0%} from round 0 ({base:.3g} -> {now:.3g}) at round "
                        f"{round_}: possible mode collapse",
                        "warning",
                        {"metric": key, "baseline": base, "value": now, "relative_drop": fall},
                    )
                )
        return out


def _nanmean(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")
