"""Probe monitors: bias amplification, semantic drift, stable reflectivity (driftlab/probes/).

Round 0 stores its answers as records; later rounds compare item by item against them.
Reflectivity reads option log-probabilities only, so it is cheap and on by default; the
other two generate answers and are enabled in the config. A `judge` (any model spec) adds
judged favourability / same-meaning verdicts from a model that does not drift.
"""

from __future__ import annotations

from pydantic import Field

from driftlab.models.spec import ModelSpec
from driftlab.monitors.base import MONITORS, MeasureContext, MonitorConfig, MonitorResult
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

    def __init__(self, config: ProbeConfig) -> None:
        self.cfg = config
        self.items = load_set(self.kind, config.path)[: config.limit]
        self.baseline: list[dict] = []
        self._judge = None

    def fit(self, baseline: MonitorResult | None):
        self.baseline = list(baseline.records) if baseline else []
        return self

    def judge(self):
        if getattr(self.cfg, "judge", None) and self._judge is None:
            from driftlab.models import load_generator

            self._judge = load_generator(self.cfg.judge)
        return self._judge


@MONITORS.register("bias")
class Bias(_ProbeMonitor):
    name = kind = "bias"
    Config = BiasConfig

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
    name = "semantic_drift"
    kind = "semantic"
    Config = SemanticConfig

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
        findings = []
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
    name = kind = "reflectivity"
    Config = ReflectivityConfig

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
        return MonitorResult(metrics, findings, records)
