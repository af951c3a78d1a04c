"""Reference perplexity on fixed human-written text: the model-collapse signal.

The shipped text (`data/reference/human.txt`) is public-domain and openly licensed human
prose, one source recorded per passage (`human_sources.tsv`). The older AI-drafted text
(`ai_drafted.txt`) is also scored, as `ai_ppl*`, so runs stay comparable with earlier
ones; it lacks the human tails by construction, so the tail findings never use it.

Shumailov et al. 2024: models trained on their own output lose the tails of the human
distribution first, so beside the mean we track the per-passage perplexity distribution.
Against round 0 the telling pattern is passages that were already improbable (high
round-0 perplexity) losing the most: the rank correlation between round-0 perplexity and
each passage's log change (`tail_skew`) turns positive and the high tail outgrows the median.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from driftlab.errors import DriftlabError
from driftlab.findings import Finding
from driftlab.intervals import bootstrap, interval, paired_bootstrap, paired_test, wilson
from driftlab.models.base import Generator
from driftlab.monitors.base import (
    MONITORS,
    Column,
    MeasureContext,
    MonitorConfig,
    MonitorResult,
)


class ReferencePPLConfig(MonitorConfig):
    path: str | None = Field(
        None, description="text file, passages split by blank lines; default: shipped human"
    )
    ai_drafted: bool = Field(
        True, description="also score the shipped AI-drafted text (ai_ppl, secondary)"
    )
    warn_skew: float = Field(
        0.3, gt=0, le=1, description="tail_skew (Spearman) that, if significant, is a finding"
    )


def load_passages(path: str | None, shipped: str = "human.txt") -> list[str]:
    if path is None:
        text = resources.files("driftlab.data").joinpath(f"reference/{shipped}").read_text("utf-8")
    else:
        p = Path(path)
        if not p.is_file():
            raise DriftlabError(f"reference text not found: {p}")
        text = p.read_text("utf-8")
    passages = [x.strip() for x in text.split("\n\n") if x.strip()]
    if not passages:
        raise DriftlabError(f"reference text {path or 'shipped'} holds no passages")
    return passages


@MONITORS.register("reference_ppl")
class ReferencePPL:
    name: ClassVar[str] = "reference_ppl"
    columns: ClassVar[tuple[Column, ...]] = (
        Column("ppl", "ppl", "{:.2f}"),
        Column("ppl p90", "ppl_p90", "{:.2f}"),
    )
    figures: ClassVar[dict[str, str]] = {}
    Config: ClassVar[type[MonitorConfig]] = ReferencePPLConfig

    def __init__(self, config: ReferencePPLConfig) -> None:
        self.cfg = config
        self.passages = load_passages(config.path)
        self.ai_passages = load_passages(None, "ai_drafted.txt") if config.ai_drafted else []
        self.baseline: np.ndarray | None = None

    @classmethod
    def metric_names(cls, config: ReferencePPLConfig) -> list[str]:
        return [
            "ppl",
            "ppl_p10",
            "ppl_median",
            "ppl_p90",
            "ppl_max",
            "tail_ratio",
            "rose_share",
            "tail_skew",
            "tail_skew_p",
            *(["ai_ppl", "ai_ppl_median", "ai_ppl_p90"] if config.ai_drafted else []),
        ]

    def fit(self, baseline: MonitorResult | None) -> ReferencePPL:
        # Records of the secondary text carry "text"; runs from before it have none.
        rows = [r for r in (baseline.records if baseline else []) if "text" not in r]
        self.baseline = (
            np.array([r["ppl"] for r in rows]) if len(rows) == len(self.passages) else None
        )
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        ppl, scored, metrics = _perplexities(ctx.model, self.passages)
        metrics["tail_ratio"] = metrics["ppl_p90"] / metrics["ppl_median"]
        intervals = _intervals(ppl, scored, ctx.seed)
        tests = {}
        findings = []
        if self.baseline is not None and len(ppl) >= 3:
            findings = self._tail(metrics, ppl, ctx.round)
            n = len(ppl)
            rose = int(round(metrics["rose_share"] * n))
            intervals["rose_share"] = interval(wilson(rose, n), "wilson", n)
            # the same passages at round 0: is the mean log change beyond resampling noise?
            ci = paired_bootstrap(np.log(self.baseline), np.log(ppl), ctx.seed)
            tests["ppl"] = paired_test(ci, "mean log change of per-passage perplexity")
        records: list[dict[str, Any]] = [
            {"passage": i, "ppl": float(x), "tokens": n}
            for i, (x, (_, n)) in enumerate(zip(ppl, scored))
        ]
        if self.ai_passages:
            ai, ai_scored, ai_metrics = _perplexities(ctx.model, self.ai_passages)
            keep = ("ppl", "ppl_median", "ppl_p90")
            metrics.update({f"ai_{k}": ai_metrics[k] for k in keep})
            ai_ci = _intervals(ai, ai_scored, ctx.seed)
            intervals.update({f"ai_{k}": ai_ci[k] for k in keep})
            records += [
                {"text": "ai_drafted", "passage": i, "ppl": float(x), "tokens": n}
                for i, (x, (_, n)) in enumerate(zip(ai, ai_scored))
            ]
        return MonitorResult(
            metrics, findings=findings, records=records, intervals=intervals, tests=tests
        )

    def _tail(self, metrics: dict[str, float], ppl: np.ndarray, round_: int) -> list[Finding]:
        """Compare each passage with its own round-0 perplexity."""
        from scipy.stats import spearmanr

        change = np.log(ppl / self.baseline)
        metrics["rose_share"] = float(
            np.mean(change > np.log(1.1))
        )  # passages >10% more perplexing
        if np.ptp(change) == 0:
            return []
        rho, p = spearmanr(self.baseline, change)
        metrics["tail_skew"], metrics["tail_skew_p"] = float(rho), float(p)
        if rho >= self.cfg.warn_skew and p < 0.05:
            return [
                Finding(
                    "reference_ppl",
                    f"round {round_}: the human passages that were already least "
                    f"likely lost the most (Spearman {rho:.2f}, p={p:.3g}; p90/median "
                    f"{metrics['tail_ratio']:.2f}): the model-collapse signature of "
                    "vanishing tails",
                    "warning",
                    {"tail_skew": float(rho), "p": float(p)},
                )
            ]
        return []


def _perplexities(
    model: Generator, passages: list[str]
) -> tuple[np.ndarray, list[tuple[float, int]], dict[str, float]]:
    """Per-passage perplexities, the raw scores, and the summary metrics of one text."""
    scored = model.text_logprobs(passages)
    ppl = np.array([math.exp(-lp / max(n, 1)) for lp, n in scored])
    total_lp = sum(lp for lp, _ in scored)
    total_n = sum(n for _, n in scored)
    metrics = {
        "ppl": math.exp(-total_lp / max(total_n, 1)),
        "ppl_p10": float(np.percentile(ppl, 10)),
        "ppl_median": float(np.median(ppl)),
        "ppl_p90": float(np.percentile(ppl, 90)),
        "ppl_max": float(ppl.max()),
    }
    return ppl, scored, metrics


def _intervals(
    ppl: np.ndarray, scored: list[tuple[float, int]], seed: int
) -> dict[str, dict[str, Any]]:
    """Bootstrap over passages: the token-weighted perplexity and the per-passage quantiles."""
    lp = np.array([x for x, _ in scored])
    ntok = np.array([max(n, 1) for _, n in scored])
    stats = {
        "ppl": lambda i: math.exp(-lp[i].sum() / ntok[i].sum()),
        "ppl_p10": lambda i: float(np.percentile(ppl[i], 10)),
        "ppl_median": lambda i: float(np.median(ppl[i])),
        "ppl_p90": lambda i: float(np.percentile(ppl[i], 90)),
        "tail_ratio": lambda i: float(np.percentile(ppl[i], 90) / np.median(ppl[i])),
    }
    n = len(ppl)
    return {
        k: interval(bootstrap(n, f, seed), "bootstrap over passages", n) for k, f in stats.items()
    }
