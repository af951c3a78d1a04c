"""What a model backend must do: sample chats and score texts (`Generator`).

Per-round adapters are not part of it: HFModel merges them (`merge_adapter`), and a policy
sampler binds a lineage to an engine (models/policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": ...}
Chat = list[Message]


@dataclass(frozen=True)
class SamplingParams:
    """One sampling request. temperature 0 means greedy (and n must be 1)."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if self.temperature == 0 and self.n > 1:
            raise ValueError("greedy decoding (temperature 0) gives one sample; set n=1")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")


@dataclass
class Completion:
    """One sampled continuation and how many tokens it took."""

    text: str
    num_tokens: int
    finish_reason: str = "length"  # "stop" (EOS or stop string) or "length"


@runtime_checkable
class Generator(Protocol):
    """Answers chats and scores texts: HFModel, VLLMModel, OpenAIModel and ServedPolicy do."""

    name: str

    def generate(
        self, chats: list[Chat], params: SamplingParams, desc: str = "sampling"
    ) -> list[list[Completion]]:
        """Return params.n completions per chat, in input order."""
        ...

    def logprobs(self, chats: list[Chat], completions: list[str]) -> list[float]:
        """Sum of log p(completion | chat) per pair, in nats."""
        ...

    def text_logprobs(self, texts: list[str]) -> list[tuple[float, int]]:
        """(sum log p, number of scored tokens) of raw texts with no chat template."""
        ...
