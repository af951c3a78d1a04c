"""Diff monitor: each round, what changed against round 0 that no benchmark asked about.

Round 0 stores the base model's texts on the diff prompt set as its records; every later
round samples the same prompts (with its own seed) and runs the diff pipeline
(driftlab.diff) against them. Off by default: it samples a few hundred prompts and runs a
labeler and a judge.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from driftlab.diff import sampling
from driftlab.diff.settings import DiffSettings
from driftlab.findings import Finding
from driftlab.monitors.base import MONITORS, MeasureContext, MonitorConfig, MonitorResult

# Round 0 is compared with itself: every metric is 0 there by definition.
METRICS = (
    "clusters_significant",
    "findings_validated",
    "hypotheses_unvalidated",
    "max_abs_cohens_h",
)


class DiffConfig(MonitorConfig, DiffSettings):
    enabled: bool = False
    max_prompts: int | None = Field(
        120, ge=2, description="a seeded subset of the diff prompts per round"
    )
    logratio: bool = Field(False, description="also load model_0 to score texts under both models")


@MONITORS.register("diff")
class Diff:
    name = "diff"
    columns = ()
    figures: ClassVar[dict[str, str]] = {"findings": "findings"}
    Config = DiffConfig

    def __init__(self, config: DiffConfig) -> None:
        self.cfg = config
        self.baseline: MonitorResult | None = None

    @classmethod
    def metric_names(cls, config: DiffConfig) -> list[str]:
        return list(METRICS)

    def fit(self, baseline: MonitorResult | None) -> Diff:
        self.baseline = baseline
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        s = DiffSettings(**self.cfg.model_dump(exclude={"enabled"}))
        prompts, _ = sampling.load_prompts(s.prompts)
        prompts = sampling.subset(prompts, s.max_prompts, s.seed)
        # The round's measurement seed: independent samples each round, the same on resume.
        records = sampling.sample_texts(
            ctx.model,
            prompts,
            s.samples,
            s.temperature,
            s.top_p,
            s.max_new_tokens,
            s.seed * 1000 + ctx.seed,
            "b",
        )
        if self.baseline is None:  # round 0: the texts later rounds compare against
            return MonitorResult(
                {m: 0.0 for m in METRICS},
                records=records,
                tables={"baseline_model": [{"name": getattr(ctx.model, "name", "")}]},
            )
        from driftlab.diff.pipeline import ModelPool, run_diff

        records_a = [{**r, "model": "a"} for r in self.baseline.records]
        base_name = (self.baseline.tables.get("baseline_model") or [{"name": ""}])[0]["name"]
        spec_a = base_name if s.logratio else "model_0"  # loaded only for the log-prob ratio
        pool = ModelPool(s.batch_size, {"current": ctx.model})
        ident = {
            spec_a: {"spec": base_name, "round": 0},
            "current": {"spec": base_name, "round": ctx.round},
        }
        doc = run_diff(
            spec_a, "current", s, None, pool, records_a=records_a, records_b=records, identity=ident
        )
        items = doc["findings"]
        sig = [c for c in doc["clusters"] if c["significant"]]
        metrics = {
            "clusters_significant": float(len(sig)),
            "findings_validated": float(sum(it["status"] == "validated" for it in items)),
            "hypotheses_unvalidated": float(sum(it["status"] != "validated" for it in items)),
            "max_abs_cohens_h": float(max([abs(c["cohens_h"]) for c in sig], default=0.0)),
        }
        findings = [_finding(ctx.round, it) for it in items if it["status"] == "validated"]
        return MonitorResult(
            metrics,
            findings,
            records,
            tables={
                "findings": items,
                "clusters": doc["clusters"],
                "baseline_classifier": [doc["baseline_classifier"]],
            },
        )


def _finding(k: int, it: dict) -> Finding:
    e, v = it["effect"], it["validation"]
    return Finding(
        "diff",
        f"round {k} vs round 0: {it['statement']} "
        f"(share {e['share_a']:.1%} -> {e['share_b']:.1%}, q={e['q']:.1e}; "
        f"judge AUC {v['auc']:.2f}, q={v['q']:.3f} on {v['n_pairs']} held-out prompts)",
        "warning" if it.get("intent") == "unexpected" else "info",
        {"rank": it["rank"], "label": it["label"], **e},
    )
