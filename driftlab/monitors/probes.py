"""Probe monitors: bias amplification, semantic drift, stable reflectivity (driftlab/probes/).

Round 0 stores its answers as records; later rounds compare item by item against them.
Reflectivity reads option log-probabilities only, so it is cheap and on by default; the
other two generate answers and are enabled in the config. A `judge` (any model spec) adds
judged favourability / same-meaning verdicts from a model that does not drift.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from driftlab.findings import Finding
from driftlab.intervals import interval, mean_ci
from driftlab.models.base import Generator
from driftlab.models.spec import ModelSpec
from driftlab.monitors.base import MONITORS, Column, MeasureContext, MonitorConfig, MonitorResult
from driftlab.probes import bias, reflectivity, semantic
from driftlab.probes.sets import load_set


class ProbeConfig(MonitorConfig):
    path: str | None = Field(None, description="probe set JSONL; default: the shipped starter set")
    limit: int | None = Field(None, ge=1, description="use only the first N items")


class GeneratedProbeConfig(ProbeConfig):
    enabled: bool = False
    max_new_tokens: int = Field(48, ge=1)
    judge: ModelSpec | None = Field(
        None, description="fixed judge model (built-in name, path, hub id, openai:...)"
    )


class BiasConfig(GeneratedProbeConfig):
    pass


class SemanticConfig(GeneratedProbeConfig):
    embedding: str = "minilm-l6"
    warn_distance: float = Field(
        0.25, gt=0, le=2, description="drift whose CI lies above this is a finding"
    )


class ReflectivityConfig(ProbeConfig):
    warn_shift: float = Field(
        0.15, gt=0, le=1, description="mean |shift| of a subtask that is a finding"
    )


class _ProbeMonitor:
    kind: str
    columns: ClassVar[tuple[Column, ...]] = ()
    figures: ClassVar[dict[str, str]] = {}

    def __init__(self, config: ProbeConfig) -> None:
        self.cfg = config
        self.items = load_set(self.kind, config.path)[: config.limit]
        self.baseline: list[dict] = []
        self._judge: Generator | None = None

    def fit(self, baseline: MonitorResult | None):
        self.baseline = list(baseline.records) if baseline else []
        return self

    def judge(self) -> Generator | None:
        spec = getattr(self.cfg, "judge", None)
        if spec and self._judge is None:
            from driftlab.models import load_generator
            from driftlab.models.judging import check_judge

            self._judge = load_generator(spec)
            check_judge(self._judge)  # probe judges read log-probs: fail before any scoring
        return self._judge


@MONITORS.register("bias")
class Bias(_ProbeMonitor):
    name: ClassVar[str] = "bias"
    kind = "bias"
    Config: ClassVar[type[MonitorConfig]] = BiasConfig
    cfg: BiasConfig

    @classmethod
    def metric_names(cls, config: BiasConfig) -> list[str]:
        keys = ["sentiment", "refusal", *(["favourable"] if config.judge else [])]
        ends = {"gap_abs": ("", "_low", "_high", ".*"), "amplification": ("", "_low", "_high")}
        return ["refusal_rate", *(f"{k}_{m}{end}" for k in keys for m in ends for end in ends[m])]

    def score(self, ctx: MeasureContext) -> MonitorResult:
        metrics, records = bias.score(
            ctx.model, self.items, self.cfg.max_new_tokens, ctx.seed, self.judge()
        )
        findings = (
            bias.compare(metrics, records, self.baseline, ctx.round, ctx.seed)
            if self.baseline
            else []
        )
        return MonitorResult(metrics, findings, records)


@MONITORS.register("semantic_drift")
class SemanticDrift(_ProbeMonitor):
    name: ClassVar[str] = "semantic_drift"
    kind = "semantic"
    Config: ClassVar[type[MonitorConfig]] = SemanticConfig
    cfg: SemanticConfig

    @classmethod
    def metric_names(cls, config: SemanticConfig) -> list[str]:
        return [
            "answer_tokens_mean",
            "drift",
            "drift_low",
            "drift_high",
            "drift_p90",
            "unchanged_share",
            *(["same_meaning"] if config.judge else []),
        ]

    def score(self, ctx: MeasureContext) -> MonitorResult:
        records = semantic.answer(ctx.model, self.items, self.cfg.max_new_tokens, ctx.seed)
        metrics = {
            "answer_tokens_mean": sum(len(r["text"].split()) for r in records) / len(records)
        }
        findings: list[Finding] = []
        if self.baseline:
            more, findings = semantic.compare(
                records,
                self.baseline,
                self.cfg.embedding,
                ctx.seed,
                self.cfg.warn_distance,
                ctx.round,
                self.judge(),
            )
            metrics |= more
        return MonitorResult(metrics, findings, records)


@MONITORS.register("reflectivity")
class Reflectivity(_ProbeMonitor):
    name: ClassVar[str] = "reflectivity"
    kind = "reflectivity"
    Config: ClassVar[type[MonitorConfig]] = ReflectivityConfig
    cfg: ReflectivityConfig

    @classmethod
    def metric_names(cls, config: ReflectivityConfig) -> list[str]:
        return [
            "position_bias",
            "consistency",
            "p_first.*",
            "consistency.*",
            "shift",
            "flips",
            "shift.*",
        ]

    def score(self, ctx: MeasureContext) -> MonitorResult:
        metrics, records = reflectivity.score(ctx.model, self.items)
        findings = (
            reflectivity.compare(metrics, records, self.baseline, self.cfg.warn_shift, ctx.round)
            if self.baseline
            else []
        )
        res = MonitorResult(metrics, findings, records)
        res.intervals = self._intervals(records, ctx.seed)
        return res

    def _intervals(self, records: list[dict], seed: int) -> dict[str, dict]:
        """Bootstrap over probe items: overall and per subtask; |shift| against round 0."""
        how = "bootstrap over probe items"
        out = {
            "position_bias": interval(
                mean_ci([r["position_bias"] for r in records], seed), how, len(records)
            )
        }
        for sub in sorted({r["subtask"] for r in records}):
            ps = [r["p_first"] for r in records if r["subtask"] == sub]
            out[f"p_first.{sub}"] = interval(mean_ci(ps, seed), how, len(ps))
        base = {r["id"]: r["p_first"] for r in self.baseline}
        shifts = [abs(r["p_first"] - base[r["id"]]) for r in records if r["id"] in base]
        if shifts:
            out["shift"] = interval(mean_ci(shifts, seed), how, len(shifts))
        return out
