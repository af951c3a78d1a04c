"""Reference perplexity on fixed human-written text: the model-collapse signal.

Shumailov et al. 2024: models trained on their own output lose the tails of the human
distribution first, so beside the mean we track the per-passage perplexity tail.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import Field

from driftlab.errors import DriftlabError
from driftlab.monitors.base import MONITORS, MeasureContext, MonitorConfig, MonitorResult


class ReferencePPLConfig(MonitorConfig):
    path: str | None = Field(None, description="text file, passages split by blank lines; default: shipped")


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

    def fit(self, baseline: MonitorResult | None) -> ReferencePPL:
        return self

    def score(self, ctx: MeasureContext) -> MonitorResult:
        scored = ctx.model.text_logprobs(self.passages)
        ppl = np.array([math.exp(-lp / max(n, 1)) for lp, n in scored])
        total_lp = sum(lp for lp, _ in scored)
        total_n = sum(n for _, n in scored)
        metrics = {
            "ppl": math.exp(-total_lp / max(total_n, 1)),
            "ppl_median": float(np.median(ppl)),
            "ppl_p90": float(np.percentile(ppl, 90)),
            "ppl_max": float(ppl.max()),
        }
        records = [{"passage": i, "ppl": float(x), "tokens": n} for i, (x, (_, n)) in enumerate(zip(ppl, scored))]
        return MonitorResult(metrics, records=records)
