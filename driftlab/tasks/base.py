"""Tasks: questions for the loop, ground truth for evaluation only.

A loop receives `Question`s (id + text) and never a `Problem`, so it cannot see an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class Problem:
    """A question with its ground-truth answer (normalized string). Evaluation only."""

    id: str
    question: str
    answer: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def as_question(self) -> Question:
        return Question(self.id, self.question)


@dataclass(frozen=True)
class Exemplar:
    """A worked example used as a few-shot prompt (part of the prompt, like the paper's
    exemplars)."""

    question: str
    rationale: str
    answer: str


class Task(Protocol):
    """Implementations subclass it to inherit the defaults of its optional members."""

    name: str
    exemplars: list[Exemplar]
    # False for tasks with no reference answers: accuracy and the training audit stand down
    has_ground_truth: bool = True

    def problems(self, split: str, n: int) -> list[Problem]:
        """n problems of a split ("train" questions for the loop, "eval" held out),
        deterministic."""
        ...

    def extract(self, text: str) -> str | None:
        """The answer a model's text commits to, normalized; None when it commits to none."""
        ...

    def is_correct(self, predicted: str | None, truth: str) -> bool: ...

    def cot_prompt(self, question: str) -> str:
        """How the model is asked to reason step by step (what loops and monitors send)."""
        ...

    def direct_prompt(self, question: str) -> str:
        """How the model is asked for the answer alone."""
        ...

    def reference_solution(self, problem: Problem) -> str | None:
        """A worked solution as a person would write it (human data for replay); None when
        the task has none."""
        return None
