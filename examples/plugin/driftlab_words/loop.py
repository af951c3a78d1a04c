"""greedy: train on the model's own greedy answers, no vote (a baseline for LMSI)."""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from driftlab.loops import RoundContext, RoundData
from driftlab.models.base import SamplingParams


class GreedyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in [loop] is an error
    max_new_tokens: int = Field(64, ge=1)


class Greedy:
    Config: ClassVar[type[BaseModel]] = GreedyConfig
    trainer: Literal["sft", "dpo"] = "sft"

    def __init__(self, config: GreedyConfig) -> None:
        self.cfg = config
        self.train_context: dict[str, Any] = {}  # SFT needs nothing besides the rows

    @classmethod
    def metric_names(cls, config: GreedyConfig) -> list[str]:
        return ["answered"]

    def run_round(self, ctx: RoundContext) -> RoundData:
        chats = [[{"role": "user", "content": ctx.task.cot_prompt(q.text)}] for q in ctx.questions]
        params = SamplingParams(temperature=0.0, max_new_tokens=self.cfg.max_new_tokens)
        outs = ctx.model.generate(chats, params, desc=f"round {ctx.round}: greedy answers")
        proposals, train = [], []
        for q, chat, (c,) in zip(ctx.questions, chats, outs, strict=True):
            answer = ctx.task.extract(c.text)
            proposals.append(
                {"question_id": q.id, "question": q.text, "text": c.text, "answer": answer}
            )
            train.append({"prompt": chat, "completion": [{"role": "assistant", "content": c.text}]})
        answered = sum(p["answer"] is not None for p in proposals) / max(1, len(proposals))
        return RoundData(proposals, train, {"answered": answered})
