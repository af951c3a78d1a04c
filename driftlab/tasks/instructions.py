"""Open-ended instructions: prompts for loops that judge, critique or red-team free-form replies.

Self-rewarding, constitutional and red-team loops need requests of many kinds (writing,
advice, coding, sensitive asks...), not questions with one right answer. The project ships
~150 of its own, each with a category; a user can point `path` at their own JSONL file
({"instruction": ..., "category": ...} per line). There is no ground truth: problems carry an
empty answer and `has_ground_truth = False`, so the capability monitor stands down and the
other monitors (diversity, reference perplexity, ...) measure the drift.

Splits are fixed by a hash of the text, so adding instructions never moves one across splits.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from driftlab.errors import ConfigError, DriftlabError
from driftlab.store import parse_jsonl_lines
from driftlab.tasks import TASKS
from driftlab.tasks.base import Exemplar, Problem, Task

SPLITS = ("train", "eval")


def read_instructions(path: str | Path | None = None) -> list[dict]:
    """Rows {"id", "category", "instruction"} of the shipped file or of `path`, checked line
    by line."""
    if path is None:
        text = (
            resources.files("driftlab.data")
            .joinpath("prompts/instructions.jsonl")
            .read_text("utf-8")
        )
        where = "shipped instructions"
    else:
        p = Path(path)
        if not p.is_file():
            raise DriftlabError(f"instruction file {p} does not exist")
        text, where = p.read_text("utf-8"), str(p)
    rows, seen = [], set()
    for line_where, row in parse_jsonl_lines(text, where):
        instruction = row.get("instruction") if isinstance(row, dict) else None
        if not isinstance(instruction, str) or not instruction.strip():
            raise DriftlabError(f"{line_where}: needs a non-empty string 'instruction'")
        if instruction in seen:
            continue
        seen.add(instruction)
        line_id = "line-" + line_where.rsplit(" ", 1)[-1]
        rows.append(
            {
                "id": str(row.get("id") or line_id),
                "category": str(row.get("category", "")),
                "instruction": instruction.strip(),
            }
        )
    if not rows:
        raise DriftlabError(f"{where} holds no instructions")
    return rows


def split_of(text: str, eval_fraction: float) -> str:
    h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "eval" if h < eval_fraction else "train"


@TASKS.register("instructions")
class InstructionsTask(Task):
    """Free-form requests with no reference answer (evaluation by monitors other than accuracy)."""

    name = "instructions"
    has_ground_truth = False

    def __init__(
        self,
        path: str | None = None,
        categories: list[str] | None = None,
        eval_fraction: float = 0.2,
    ) -> None:
        if not 0 < eval_fraction < 1:
            raise ConfigError(f"task.eval_fraction must be between 0 and 1, got {eval_fraction!r}")
        rows = read_instructions(path)
        if categories:
            known = sorted({r["category"] for r in rows})
            unknown = [c for c in categories if c not in known]
            if unknown:
                raise ConfigError(
                    f"task.categories: unknown {unknown}; the file has: {', '.join(known)}"
                )
            rows = [r for r in rows if r["category"] in categories]
        self._splits: dict[str, list[Problem]] = {s: [] for s in SPLITS}
        for r in rows:
            p = Problem(r["id"], r["instruction"], "", {"category": r["category"]})
            self._splits[split_of(r["instruction"], eval_fraction)].append(p)
        self.exemplars: list[Exemplar] = []

    def problems(self, split: str, n: int) -> list[Problem]:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        return self._splits[split][:n]

    def extract(self, text: str) -> str | None:
        return None  # a free-form reply commits to no single answer

    def is_correct(self, predicted: str | None, truth: str) -> bool:
        return False  # never called: has_ground_truth is False

    def cot_prompt(self, question: str) -> str:
        return question  # the instruction is the whole prompt

    def direct_prompt(self, question: str) -> str:
        return question
