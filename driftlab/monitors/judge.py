"""Judge quality: how the model grades answers, round by round (for loops with a judge).

A self-rewarding loop trains on its own grades, so a judge that drifts (inflated scores,
lost agreement with the truth, a taste for its own style) steers training wrong before
accuracy shows it. On the model's greedy answers to the held-out set this monitor records:
- the score distribution and, when sampling judgements, the share that did not parse;
- agreement with ground truth (AUROC of score for right vs wrong answers) where the task
  has it, and with a fixed reference judge (Spearman) when one is configured;
- self-preference: the score the judge gives its own answer minus the score it gives round
  0's answer to the same question; with a reference judge, the same difference as the
  reference sees it, so a gap between the two is preference beyond quality.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from driftlab.findings import Finding
from driftlab.intervals import bootstrap, interval, mean_ci, wilson
from driftlab.models.base import Generator, SamplingParams
from driftlab.models.judge_prompts import JudgePrompt, fill, resolve_template
from driftlab.models.judging import check_judge
from driftlab.models.scores import expected_scores, parse_score, score_histogram
from driftlab.models.spec import ModelSpec
from driftlab.monitors.base import (
    MONITORS,
    Column,
    EvalSampling,
    MeasureContext,
    MonitorConfig,
    MonitorResult,
)


class JudgeConfig(EvalSampling):
    enabled: bool = False
    prompt: JudgePrompt = Field(
        "additive-5pt-brief", description="judge template name or text with {prompt} {response}"
    )
    mode: Literal["expected", "sample"] = Field(
        "expected",
        description="probability-weighted score, or sampled judgements parsed for 'Score: N'",
    )
    judge_samples: int = Field(1, ge=1)
    judge_max_new_tokens: int = Field(64, ge=1)
    reference: ModelSpec | None = Field(None, description="fixed reference judge (model spec)")
    warn_self_preference: float = Field(
        0.5, gt=0, description="self-preference (points) that is a finding"
    )


@MONITORS.register("judge")
class Judge:
    name: ClassVar[str] = "judge"
    columns: ClassVar[tuple[Column, ...]] = ()
    figures: ClassVar[dict[str, str]] = {}
    Config: ClassVar[type[MonitorConfig]] = JudgeConfig

    def __init__(self, config: JudgeConfig) -> None:
        self.cfg = config
        self.template = resolve_template(config.prompt)
        self.baseline: list[dict] = []
        self._reference: Generator | None = None

    @classmethod
    def metric_names(cls, config: JudgeConfig) -> list[str]:
        ref = ["spearman_vs_reference", "reference_preference"] if config.reference else []
        return [
            "score_mean",
            "score_std",
            "parse_failure_rate",
            *(f"hist_{b}" for b in range(6)),
            "auroc_vs_truth",
            "score_gap_right_wrong",
            "answers_changed",
            "self_preference",
            *ref,
        ]

    def fit(self, baseline: MonitorResult | None) -> Judge:
        self.baseline = list(baseline.records) if baseline else []
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        answers = [c[0].text for c in ctx.eval_samples(self.cfg, 1, greedy=True)]
        prompts = [ctx.task.cot_prompt(p.question) for p in ctx.eval_set]
        scores, failures = self._grade(ctx, ctx.model, prompts, answers)
        records = [
            {"id": p.id, "prompt": q, "response": a, "score": s}
            for p, q, a, s in zip(ctx.eval_set, prompts, answers, scores)
        ]
        ok = np.array([s for s in scores if s is not None], dtype=float)
        metrics = {
            "score_mean": float(ok.mean()) if len(ok) else float("nan"),
            "score_std": float(ok.std()) if len(ok) else float("nan"),
            "parse_failure_rate": failures,
        }
        metrics |= {
            k.removeprefix("judge_"): v / max(1, len(ok))
            for k, v in score_histogram(list(ok)).items()
        }
        if ctx.task.has_ground_truth:
            metrics |= self._truth(ctx, records)
        if self.cfg.reference:
            ref, _ = self._grade(ctx, self.reference(), prompts, answers)
            for r, s in zip(records, ref):
                r["reference_score"] = s
            metrics["spearman_vs_reference"] = _spearman([r["score"] for r in records], ref)
        findings = self._self_preference(ctx, records, metrics) if self.baseline else []
        res = MonitorResult(metrics, findings, records)
        res.intervals = _intervals(records, metrics, len(scores), ctx.seed)
        return res

    def reference(self) -> Generator:
        if self._reference is None:
            from driftlab.models import load_generator

            assert self.cfg.reference is not None  # only called when a reference is configured
            self._reference = load_generator(self.cfg.reference)
            if self.cfg.mode == "expected":  # read from log-probs: fail before any grading
                check_judge(self._reference)
        return self._reference

    def _grade(
        self, ctx: MeasureContext, model, prompts: list[str], answers: list[str]
    ) -> tuple[list, float]:
        """(score per answer, None where no judgement parsed; the share of judgements that
        failed)."""
        chats = [
            [{"role": "user", "content": fill(self.template, prompt=p, response=a)}]
            for p, a in zip(prompts, answers)
        ]
        if self.cfg.mode == "expected":
            return [j["score"] for j in expected_scores(model, chats)], 0.0
        params = SamplingParams(
            n=self.cfg.judge_samples,
            temperature=1.0,
            top_p=1.0,
            max_new_tokens=self.cfg.judge_max_new_tokens,
            seed=ctx.seed,
        )
        outs = model.generate(chats, params, desc=f"round {ctx.round}: judge monitor")
        parsed = [[parse_score(o.text).value for o in comps] for comps in outs]
        fails = sum(v is None for vs in parsed for v in vs) / max(1, sum(map(len, parsed)))
        return [
            float(np.mean([v for v in vs if v is not None]))
            if any(v is not None for v in vs)
            else None
            for vs in parsed
        ], fails

    def _truth(self, ctx: MeasureContext, records: list[dict]) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score

        truth = {p.id: p.answer for p in ctx.eval_set}
        for r in records:
            r["correct"] = ctx.task.is_correct(ctx.task.extract(r["response"]), truth[r["id"]])
        pairs = [(r["score"], r["correct"]) for r in records if r["score"] is not None]
        right = [s for s, c in pairs if c]
        wrong = [s for s, c in pairs if not c]
        if not right or not wrong:
            return {"auroc_vs_truth": float("nan"), "score_gap_right_wrong": float("nan")}
        return {
            "auroc_vs_truth": float(roc_auc_score([c for _, c in pairs], [s for s, _ in pairs])),
            "score_gap_right_wrong": float(np.mean(right) - np.mean(wrong)),
        }

    def _self_preference(
        self, ctx: MeasureContext, records: list[dict], metrics: dict
    ) -> list[Finding]:
        """Grade round 0's answers with today's judge; own minus theirs, per question."""
        base = {r["id"]: r for r in self.baseline}
        both = [
            (r, base[r["id"]])
            for r in records
            if r["id"] in base and r["response"] != base[r["id"]]["response"]
        ]
        metrics["answers_changed"] = float(len(both))
        if not both:
            return []
        theirs, _ = self._grade(
            ctx, ctx.model, [b["prompt"] for _, b in both], [b["response"] for _, b in both]
        )
        diffs = [
            r["score"] - t
            for (r, _), t in zip(both, theirs)
            if r["score"] is not None and t is not None
        ]
        metrics["self_preference"] = float(np.mean(diffs)) if diffs else float("nan")
        if self.cfg.reference:
            ref_theirs, _ = self._grade(
                ctx,
                self.reference(),
                [b["prompt"] for _, b in both],
                [b["response"] for _, b in both],
            )
            ref = [
                r["reference_score"] - t
                for (r, _), t in zip(both, ref_theirs)
                if r.get("reference_score") is not None and t is not None
            ]
            metrics["reference_preference"] = float(np.mean(ref)) if ref else float("nan")
            excess = metrics["self_preference"] - metrics["reference_preference"]
        else:
            excess = metrics["self_preference"]
        if not math.isnan(excess) and excess > self.cfg.warn_self_preference:
            return [
                Finding(
                    "judge",
                    f"round {ctx.round}: the judge scores its own answers {excess:.2f} points "
                    f"above round 0's answers to the same {len(diffs)} questions"
                    + (" beyond what the reference judge sees" if self.cfg.reference else ""),
                    "warning",
                    {"self_preference": metrics["self_preference"], "excess": excess},
                )
            ]
        return []


def _spearman(a: list, b: list) -> float:
    from scipy.stats import spearmanr

    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    if len(pairs) < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return float("nan")
    return float(spearmanr(*zip(*pairs)).statistic)


def _intervals(records: list[dict], metrics: dict, n: int, seed: int) -> dict[str, dict]:
    """Wilson for the rates and histogram shares, a bootstrap over answers for the rest."""
    ok = np.array([r["score"] for r in records if r["score"] is not None], dtype=float)
    out = {
        "parse_failure_rate": interval(
            wilson(round(metrics["parse_failure_rate"] * n), n), "wilson (n = answers)", n
        ),
        "score_mean": interval(mean_ci(ok, seed), "bootstrap over answers", len(ok)),
        "score_std": interval(
            bootstrap(len(ok), lambda i: float(ok[i].std()), seed),
            "bootstrap over answers",
            len(ok),
        ),
    }
    for k, v in metrics.items():
        if k.startswith("hist_") and len(ok):
            out[k] = interval(wilson(round(v * len(ok)), len(ok)), "wilson", len(ok))
    pairs = [
        (r["score"], r["correct"]) for r in records if r["score"] is not None and "correct" in r
    ]
    if pairs:
        from sklearn.metrics import roc_auc_score

        sc = np.array([s for s, _ in pairs], dtype=float)
        ok_c = np.array([c for _, c in pairs], dtype=bool)

        def auroc(i: np.ndarray) -> float:
            c = ok_c[i]
            return float(roc_auc_score(c, sc[i])) if 0 < c.sum() < len(c) else np.nan

        def gap(i: np.ndarray) -> float:
            c = ok_c[i]
            return float(sc[i][c].mean() - sc[i][~c].mean()) if 0 < c.sum() < len(c) else np.nan

        for k, f in (("auroc_vs_truth", auroc), ("score_gap_right_wrong", gap)):
            out[k] = interval(bootstrap(len(pairs), f, seed), "bootstrap over answers", len(pairs))
    return out
