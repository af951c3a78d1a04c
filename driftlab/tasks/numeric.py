"""What every numeric-answer task shares: extraction, scoring and the prompts the model sees.

Keeping the prompts in one place means a model is asked the same way whichever task feeds
it, so accuracies and drift are comparable across tasks.
"""

from __future__ import annotations

from driftlab.tasks.base import Exemplar, Task
from driftlab.tasks.extract import extract_number, numbers_equal

ANSWER_FORMAT = "The answer is N."


class NumericTask(Task):
    """Mixin for tasks whose ground truth is one number (normalized string)."""

    name: str
    exemplars: list[Exemplar]

    def extract(self, text: str) -> str | None:
        return extract_number(text)

    def is_correct(self, predicted: str | None, truth: str) -> bool:
        return numbers_equal(predicted, truth)

    def cot_prompt(self, question: str) -> str:
        """Zero-shot chain of thought: reasoning first, then a sentence the extractor finds."""
        return (
            f'{question}\nThink step by step, then finish with "{ANSWER_FORMAT}" '
            "where N is the final number."
        )

    def direct_prompt(self, question: str) -> str:
        """Just the answer, no reasoning: the baseline that chain of thought is compared with."""
        return f'{question}\nReply with "{ANSWER_FORMAT}" only, where N is the final number.'
