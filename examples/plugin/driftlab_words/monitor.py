"""words: how long the model's held-out answers are, each round."""

from typing import ClassVar, Self

from driftlab.monitors import Column, MeasureContext, MonitorResult
from driftlab.monitors.base import EvalSampling


class Words:
    name: ClassVar[str] = "words"
    Config: ClassVar[type[EvalSampling]] = EvalSampling  # samples, temperature, ...
    columns: ClassVar[tuple[Column, ...]] = (Column("words", "mean_words", "{:.1f}"),)
    figures: ClassVar[dict[str, str]] = {}

    def __init__(self, config: EvalSampling) -> None:
        self.cfg = config

    @classmethod
    def metric_names(cls, config: EvalSampling) -> list[str]:
        return ["mean_words"]

    def fit(self, baseline: MonitorResult | None) -> Self:
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        answers = ctx.eval_samples(self.cfg, self.cfg.samples)  # shared with other monitors
        words = [len(c.text.split()) for group in answers for c in group]
        return MonitorResult({"mean_words": sum(words) / max(1, len(words))})
