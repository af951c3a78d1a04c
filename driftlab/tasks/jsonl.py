"""Questions from the user's own JSONL file: {"question": ..., "answer": ...} per line.

The way to run a loop on private or custom data with no hub. Every fault in the file is
reported with the file and line number, since the user must go and fix that line. Answers go
through the same numeric extractor as model outputs, so "1,234", 1234 and "#### 1234" agree.
"""

from __future__ import annotations

import json
import random
import re
from decimal import Decimal
from pathlib import Path

from driftlab.errors import ConfigError, DriftlabError
from driftlab.tasks import TASKS
from driftlab.tasks.arithmetic import EXEMPLARS
from driftlab.tasks.base import Problem
from driftlab.tasks.extract import extract_number
from driftlab.tasks.numeric import NumericTask

SPLITS = ("train", "eval")


def _answer(answer: object) -> str | None:
    """The normalized answer: a JSON number, or a string holding one number ("1,234", "$5")
    or ending in GSM8K's "#### N". "3/4" or "2 or 3" are refused rather than misread."""
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        return None
    if isinstance(answer, str):
        text = answer.rpartition("####")[2]
    else:  # 1e20 must read as one number, not as "1" and "20"
        text = format(Decimal(repr(answer)), "f")
    if len(re.findall(r"[0-9]+(?:[.,][0-9]+)*", text)) != 1:
        return None
    return extract_number(text)


def read_problems(path: str | Path) -> list[Problem]:
    """The problems of one file, with ids as given or "{file name}:{line}".

    Raises DriftlabError naming the file and line of the first fault."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DriftlabError(f"task file {path} does not exist") from None
    except OSError as e:
        raise DriftlabError(f"task file {path} cannot be read: {e.strerror or e}") from None
    problems: list[Problem] = []
    for lineno, line_bytes in enumerate(raw.splitlines(), start=1):
        where = f"{path}, line {lineno}"
        try:
            line = line_bytes.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            raise DriftlabError(f"{where}: not UTF-8 text") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DriftlabError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DriftlabError(f'{where}: expected {{"question": ..., "answer": ...}}')
        for key in ("question", "answer"):
            if key not in row:
                raise DriftlabError(f"{where}: missing key {key!r}")
        question, answer = row["question"], row["answer"]
        if not isinstance(question, str) or not question.strip():
            raise DriftlabError(f"{where}: 'question' must be a non-empty string")
        value = _answer(answer)
        if value is None:
            raise DriftlabError(f"{where}: 'answer' must be one number, got {answer!r}")
        pid = str(row["id"]) if row.get("id") is not None else f"{path.name}:{lineno}"
        problems.append(Problem(pid, question.strip(), value, {"file": str(path), "line": lineno}))
    if not problems:
        raise DriftlabError(f"task file {path} has no questions")
    return problems


@TASKS.register("jsonl")
class JsonlTask(NumericTask):
    """Train and eval questions from `path`, with eval from `eval_path` or a seeded fraction.

    With neither, eval_fraction defaults to 0.2: evaluation must be on held-out questions.
    Asking for more problems than a split has returns all of them.
    """

    name = "jsonl"

    def __init__(
        self,
        path: str,
        eval_path: str | None = None,
        eval_fraction: float | None = None,
        seed: int = 0,
    ) -> None:
        if eval_path is not None and eval_fraction is not None:
            raise ConfigError("task: set eval_path or eval_fraction, not both")
        rows = read_problems(path)
        if eval_path is not None:
            train, evals = rows, read_problems(eval_path)
            _check_unique(train + evals)
        else:
            fraction = 0.2 if eval_fraction is None else eval_fraction
            if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
                raise ConfigError(f"task.eval_fraction must be between 0 and 1, got {fraction!r}")
            if len(rows) < 2:
                raise DriftlabError(f"task file {path} needs at least 2 questions to split")
            order = list(range(len(rows)))
            _check_unique(rows)
            random.Random(f"driftlab-jsonl:{seed}").shuffle(order)
            k = min(max(1, round(fraction * len(rows))), len(rows) - 1)
            held = set(order[:k])
            train = [p for i, p in enumerate(rows) if i not in held]  # file order within a split
            evals = [p for i, p in enumerate(rows) if i in held]
        self._splits = {"train": train, "eval": evals}
        self.exemplars = list(EXEMPLARS)

    def problems(self, split: str, n: int) -> list[Problem]:
        if split not in self._splits:
            raise ConfigError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        return self._splits[split][:n]


def _check_unique(problems: list[Problem]) -> None:
    """Repeated ids would mix up results; a repeated question could leak eval into training."""
    ids: dict[str, Problem] = {}
    texts: dict[str, Problem] = {}
    for p in problems:
        for seen, key, what in ((ids, p.id, "id"), (texts, p.question, "question")):
            if key in seen:
                first = seen[key].meta
                raise DriftlabError(
                    f"{p.meta['file']}, line {p.meta['line']}: repeats the {what} of "
                    f"{first['file']}, line {first['line']}"
                )
            seen[key] = p
