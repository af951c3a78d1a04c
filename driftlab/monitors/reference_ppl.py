"""Reference perplexity on fixed human-written text: the model-collapse signal.

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

import numpy as np
from pydantic import Field

from driftlab.errors import DriftlabError
from driftlab.findings import Finding
from driftlab.monitors.base import MONITORS, MeasureContext, MonitorConfig, MonitorResult


class ReferencePPLConfig(MonitorConfig):
    path: str | None = Field(
        None, description="text file, passages split by blank lines; default: shipped"
    )
    warn_skew: float = Field(
        0.3, gt=0, le=1, description="tail_skew (Spearman) that, if significant, is a finding"
    )


def load_passages(path: str | None) -> list[str]:
    if path is None:
        text = resources.files("driftlab.data").joinpath("reference/human.txt").read_text("utf-8")
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
    name = "reference_ppl"
    Config = ReferencePPLConfig

    def __init__(self, config: ReferencePPLConfig) -> None:
        self.cfg = config
        self.passages = load_passages(config.path)
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
        ]

    def fit(self, baseline: MonitorResult | None) -> ReferencePPL:
        rows = baseline.records if baseline else []
        self.baseline = (
            np.array([r["ppl"] for r in rows]) if len(rows) == len(self.passages) else None
        )
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        scored = ctx.model.text_logprobs(self.passages)
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
        metrics["tail_ratio"] = metrics["ppl_p90"] / metrics["ppl_median"]
        findings = []
        if self.baseline is not None and len(ppl) >= 3:
            findings = self._tail(metrics, ppl, ctx.round)
        records = [
            {"passage": i, "ppl": float(x), "tokens": n}
            for i, (x, (_, n)) in enumerate(zip(ppl, scored))
        ]
        return MonitorResult(metrics, findings=findings, records=records)

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
                    f"{metrics['tail_ratio']:.2f}): the model-collapse signature of vanishing tails",
                    "warning",
                    {"tail_skew": float(rho), "p": float(p)},
                )
            ]
        return []
