"""The loop protocol: one round's proposals and the training data they select.

A loop sees questions and the task's prompt kit, never ground truth (`LoopTask` has no
answers). It returns every proposal for the record and the rows to train on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel

from driftlab.findings import Finding
from driftlab.models.base import Generator
from driftlab.registry import Registry
from driftlab.tasks.base import Exemplar, Question


@dataclass(frozen=True)
class LoopTask:
    """The part of a task a loop may use: how to ask, how to read an answer. No ground truth."""

    name: str
    cot_prompt: Callable[[str], str]
    direct_prompt: Callable[[str], str]
    extract: Callable[[str], str | None]
    exemplars: tuple[Exemplar, ...] = ()


@dataclass
class RoundContext:
    round: int
    model: Generator
    task: LoopTask
    questions: list[Question]
    seed: int
    # Earlier rounds' stored proposals, oldest first: [{"round": j, "proposals": [...]}], j < round.
    # Read from the run directory, so a resumed run sees exactly what an uninterrupted one saw.
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RoundData:
    """What a loop hands back. `train` rows are TRL prompt-completion (sft) or preference (dpo)."""

    proposals: list[dict[str, Any]]
    train: list[dict[str, Any]]
    stats: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


class Loop(Protocol):
    Config: ClassVar[type[BaseModel]]
    trainer: Literal["sft", "dpo"]  # an instance attribute: some loops pick it from their config
    # keyword arguments the trainer needs besides the rows, e.g. DPO's reference and beta
    train_context: dict[str, Any]

    # `config` is an instance of the class's own `Config`: typed Any, as a parameter type
    # cannot narrow in an implementation.
    def __init__(self, config: Any) -> None: ...

    @classmethod
    def metric_names(cls, config: Any) -> list[str]:
        """The keys of `RoundData.stats` under `config` (the round table's loop.* columns)."""
        ...

    def run_round(self, ctx: RoundContext) -> RoundData: ...


def _is_loop(obj: object) -> bool:
    return isinstance(obj, type) and hasattr(obj, "Config") and hasattr(obj, "run_round")


# other installed packages add loops under [project.entry-points."driftlab.loops"]
LOOPS: Registry[type[Loop]] = Registry("loop", "driftlab.loops", _is_loop)
