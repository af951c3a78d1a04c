"""Capability: held-out accuracy (greedy and self-consistency) and calibration of vote share.

The held-out questions are the same every round, so a change against round 0 is tested
per item (exact McNemar test on the questions whose correctness flipped), not by
comparing two proportions as if the samples were independent.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from driftlab.findings import Finding
from driftlab.intervals import bootstrap, interval, wilson
from driftlab.monitors.base import (
    MONITORS,
    Column,
    EvalSampling,
    MeasureContext,
    MonitorConfig,
    MonitorResult,
)
from driftlab.tasks.extract import majority_vote


class CapabilityConfig(EvalSampling):
    self_consistency: bool = Field(True, description="also score majority vote over samples")
    bins: int = Field(5, ge=2, description="confidence bins for calibration")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level for findings")


def expected_calibration_error(
    conf: np.ndarray, correct: np.ndarray, bins: int
) -> tuple[float, list]:
    """ECE over equal-width confidence bins, with the per-bin table for the report."""
    edges = np.linspace(0, 1, bins + 1)
    ece, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            gap = abs(conf[m].mean() - correct[m].mean())
            ece += m.mean() * gap
            table.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": int(m.sum()),
                    "confidence": float(conf[m].mean()),
                    "accuracy": float(correct[m].mean()),
                }
            )
    return float(ece), table


def mcnemar(before: list[bool], after: list[bool]) -> tuple[int, int, float]:
    """(fixed, broken, exact two-sided p) for paired correctness on the same items."""
    from scipy.stats import binomtest  # scipy and sklearn load when measuring, not with the config

    fixed = sum(1 for b, a in zip(before, after) if not b and a)
    broken = sum(1 for b, a in zip(before, after) if b and not a)
    p = binomtest(fixed, fixed + broken, 0.5).pvalue if fixed + broken else 1.0
    return fixed, broken, float(p)


@MONITORS.register("capability")
class Capability:
    name: ClassVar[str] = "capability"
    Config: ClassVar[type[MonitorConfig]] = CapabilityConfig
    columns: ClassVar[tuple[Column, ...]] = (
        Column("acc", "accuracy", "{:.1%}"),
        Column("acc SC", "accuracy_sc", "{:.1%}"),
        Column("ECE", "ece", "{:.3f}"),
        Column("AUROC", "auroc", "{:.2f}"),
    )
    figures: ClassVar[dict[str, str]] = {"calibration": "calibration"}

    def __init__(self, config: CapabilityConfig) -> None:
        self.cfg = config
        self.baseline: MonitorResult | None = None

    @classmethod
    def metric_names(cls, config: CapabilityConfig) -> list[str]:
        sc = ["accuracy_sc", "mean_vote_share", "ece", "brier", "auroc"]
        return ["evaluated", "accuracy", "no_answer_rate", *(sc if config.self_consistency else [])]

    def fit(self, baseline: MonitorResult | None) -> Capability:
        self.baseline = baseline
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        from sklearn.metrics import brier_score_loss, roc_auc_score

        task, probs = ctx.task, ctx.eval_set
        if not task.has_ground_truth:  # e.g. open-ended instructions: nothing to score
            return MonitorResult({"evaluated": 0.0})
        greedy = ctx.eval_samples(self.cfg, 1, greedy=True)
        records: list[dict[str, Any]] = []
        for p, [c] in zip(probs, greedy, strict=True):
            pred = task.extract(c.text)
            records.append(
                {
                    "id": p.id,
                    "truth": p.answer,
                    "greedy": pred,
                    "greedy_correct": task.is_correct(pred, p.answer),
                }
            )
        metrics = {
            "accuracy": float(np.mean([r["greedy_correct"] for r in records])),
            "no_answer_rate": float(np.mean([r["greedy"] is None for r in records])),
        }
        if self.cfg.self_consistency:
            samples = ctx.eval_samples(self.cfg, self.cfg.samples)
            for r, p, comps in zip(records, probs, samples, strict=True):
                vote, share = majority_vote([task.extract(c.text) for c in comps])
                r.update(vote=vote, vote_share=share, vote_correct=task.is_correct(vote, p.answer))
            conf = np.array([r["vote_share"] for r in records])
            correct = np.array([r["vote_correct"] for r in records], dtype=float)
            ece, table = expected_calibration_error(conf, correct, self.cfg.bins)
            metrics.update(
                accuracy_sc=float(correct.mean()),
                mean_vote_share=float(conf.mean()),
                ece=ece,
                brier=float(brier_score_loss(correct, conf, labels=[0, 1])),
                # Does vote share rank right answers above wrong ones? (undefined if all agree)
                auroc=float(roc_auc_score(correct, conf))
                if len(set(correct)) > 1
                else float("nan"),
            )
            tables = {"calibration": table}
        else:
            tables = {}
        res = MonitorResult(metrics, self._findings(records, metrics), records, tables)
        res.intervals = self._intervals(records, ctx.seed)
        res.tests = self._tests(records)
        return res

    def _intervals(self, records: list[dict], seed: int) -> dict[str, dict]:
        """Wilson for the rates; a bootstrap over questions for ECE, Brier and AUROC."""
        from sklearn.metrics import roc_auc_score

        n = len(records)
        out = {
            "accuracy": interval(wilson(sum(r["greedy_correct"] for r in records), n), "wilson", n),
            "no_answer_rate": interval(
                wilson(sum(r["greedy"] is None for r in records), n), "wilson", n
            ),
        }
        if not self.cfg.self_consistency or not records:
            return out
        conf = np.array([r["vote_share"] for r in records])
        correct = np.array([r["vote_correct"] for r in records], dtype=float)
        out["accuracy_sc"] = interval(wilson(correct.sum(), n), "wilson", n)

        def auroc(i: np.ndarray) -> float:
            return float(roc_auc_score(correct[i], conf[i])) if len(set(correct[i])) > 1 else np.nan

        stats = {
            "mean_vote_share": lambda i: float(conf[i].mean()),
            "ece": lambda i: expected_calibration_error(conf[i], correct[i], self.cfg.bins)[0],
            "brier": lambda i: float(np.mean((conf[i] - correct[i]) ** 2)),
            "auroc": auroc,
        }
        for k, f in stats.items():
            out[k] = interval(bootstrap(n, f, seed), "bootstrap over questions", n)
        return out

    def _tests(self, records: list[dict]) -> dict[str, dict]:
        """McNemar on the questions whose correctness flipped since round 0 (same questions)."""
        if self.baseline is None:
            return {}
        out = {}
        for key, metric in (("greedy_correct", "accuracy"), ("vote_correct", "accuracy_sc")):
            base = {r["id"]: r[key] for r in self.baseline.records if key in r}
            pairs = [(base[r["id"]], r[key]) for r in records if r["id"] in base and key in r]
            if pairs:
                fixed, broken, p = mcnemar([b for b, _ in pairs], [a for _, a in pairs])
                out[metric] = {
                    "test": "McNemar",
                    "fixed": fixed,
                    "broken": broken,
                    "p": p,
                    "significant": p < self.cfg.alpha,
                }
        return out

    def _findings(self, records: list[dict], metrics: dict) -> list[Finding]:
        if self.baseline is None:
            return []
        base = {r["id"]: r["greedy_correct"] for r in self.baseline.records}
        pairs = [(base[r["id"]], r["greedy_correct"]) for r in records if r["id"] in base]
        fixed, broken, p = mcnemar([b for b, _ in pairs], [a for _, a in pairs])
        delta = metrics["accuracy"] - self.baseline.metrics["accuracy"]
        significant = p < self.cfg.alpha
        verdict = "a significant" if significant else "no significant"
        before = self.baseline.metrics["accuracy"]
        msg = (
            f"greedy accuracy {metrics['accuracy']:.1%} vs {before:.1%} at round 0 "
            f"({delta:+.1%}): {fixed} questions fixed, {broken} broken, "
            f"{verdict} change (McNemar p={p:.3f})"
        )
        severity: Literal["info", "warning"] = "warning" if significant and delta < 0 else "info"
        return [
            Finding(
                "capability",
                msg,
                severity,
                {"fixed": fixed, "broken": broken, "p": p, "delta": delta},
            )
        ]
