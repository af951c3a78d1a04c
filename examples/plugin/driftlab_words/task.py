"""doubling: "What is N doubled?"; the answer is computed, so it is always right."""

import random

from driftlab.tasks.base import Exemplar, Problem
from driftlab.tasks.numeric import NumericTask  # numeric extraction, scoring and prompts


class Doubling(NumericTask):
    name = "doubling"
    exemplars = [Exemplar("What is 3 doubled?", "3 + 3 = 6.", "6")]

    def __init__(self, largest: int = 100) -> None:  # [task] largest = ... in a config
        self.largest = largest

    def problems(self, split: str, n: int) -> list[Problem]:
        """Even N for "train", odd N for "eval": the splits never share a question."""
        rng = random.Random(split)
        odd = int(split != "train")
        ns = [2 * rng.randrange(self.largest // 2) + odd for _ in range(n)]
        return [
            Problem(f"{split}-{i}", f"What is {k} doubled?", str(2 * k)) for i, k in enumerate(ns)
        ]
