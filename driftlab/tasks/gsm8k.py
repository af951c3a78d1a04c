"""GSM8K (grade-school math) from the Hugging Face hub: the benchmark LMSI reports on.

Too hard for the tiny default model, but the reference point for larger ones. The hub is
needed the first time (later runs read the datasets cache); when it is not reachable the user
gets one sentence naming the offline tasks, not a stack of retries and HTTP errors.
"""

from __future__ import annotations

from driftlab.errors import ConfigError, DriftlabError
from driftlab.tasks import TASKS
from driftlab.tasks.base import Exemplar, Problem
from driftlab.tasks.extract import extract_number
from driftlab.tasks.numeric import NumericTask

DATASET, CONFIG = "openai/gsm8k", "main"
HF_SPLITS = {"train": "train", "eval": "test"}

# Written for driftlab in GSM8K's style (several steps, money and time); not from the dataset.
EXEMPLARS = [
    Exemplar(
        "A baker makes 48 rolls in the morning and 36 in the afternoon. She sells 70 rolls. "
        "How many rolls does she have left?",
        "She makes 48 + 36 = 84 rolls. After selling 70 she has 84 - 70 = 14 left. "
        "The answer is 14.",
        "14",
    ),
    Exemplar(
        "Tickets to a museum cost $12 for adults and $7 for children. How much does a family "
        "of 2 adults and 3 children pay?",
        "The adults pay 2 * 12 = 24 dollars. The children pay 3 * 7 = 21 dollars. Together "
        "they pay 24 + 21 = 45 dollars. The answer is 45.",
        "45",
    ),
    Exemplar(
        "Jonah reads 15 pages every weekday and 25 pages on each day of the weekend. How many "
        "pages does he read in one week?",
        "On the 5 weekdays he reads 5 * 15 = 75 pages. On the 2 weekend days he reads "
        "2 * 25 = 50 pages. In total he reads 75 + 50 = 125 pages. The answer is 125.",
        "125",
    ),
    Exemplar(
        "A garden has 6 rows of 8 tomato plants. A storm destroys a quarter of the plants. How "
        "many plants are left?",
        "The garden has 6 * 8 = 48 plants. A quarter of them is 48 / 4 = 12 plants. That "
        "leaves 48 - 12 = 36 plants. The answer is 36.",
        "36",
    ),
]


def parse_answer(solution: str) -> str:
    """The normalized number after GSM8K's "#### " marker ("#### 1,234" -> "1234")."""
    _, sep, tail = solution.rpartition("####")
    value = extract_number(tail) if sep else None
    if value is None:
        raise DriftlabError(f"gsm8k record has no '#### N' answer: {solution[-80:]!r}")
    return value


def problem_from_record(record: dict, split: str, index: int) -> Problem:
    """One dataset row as a Problem; the reference solution stays in meta for evaluation."""
    return Problem(
        f"{split}-{index}",
        record["question"].strip(),
        parse_answer(record["answer"]),
        {"solution": record["answer"]},
    )


def _offline_errors() -> tuple[type[BaseException], ...]:
    """What `datasets` raises when the hub cannot be reached (or offline mode forbids it)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError

        errors.append(LocalEntryNotFoundError)
    except ImportError:  # pragma: no cover - depends on the installed hub client
        pass
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def load_gsm8k(cache_dir: str | None = None) -> dict[str, list[Problem]]:
    """Both splits as Problems; DriftlabError when the hub is unreachable or the load fails."""
    try:
        import datasets

        data = datasets.load_dataset(DATASET, CONFIG, cache_dir=cache_dir)
    except _offline_errors() as e:
        raise DriftlabError(
            f"gsm8k needs the Hugging Face hub, which is not reachable: {e}; "
            "use task 'arithmetic' or 'jsonl' to run offline"
        ) from e
    except Exception as e:  # noqa: BLE001 - any other failure is still one message to the user
        raise DriftlabError(f"gsm8k could not be loaded from the Hugging Face hub: {e}") from e
    return {
        split: [problem_from_record(r, split, i) for i, r in enumerate(data[hf_split])]
        for split, hf_split in HF_SPLITS.items()
    }


@TASKS.register("gsm8k")
class Gsm8kTask(NumericTask):
    """GSM8K's train split feeds the loop; its test split is the held-out "eval"."""

    name = "gsm8k"

    def __init__(self, cache_dir: str | None = None) -> None:
        self._splits = load_gsm8k(cache_dir)  # at construction: fail before any model loads
        self.exemplars = list(EXEMPLARS)

    def problems(self, split: str, n: int) -> list[Problem]:
        """The first n problems of a split, in dataset order (GSM8K's order is already shuffled)."""
        if split not in self._splits:
            raise ConfigError(f"unknown split {split!r}; choose one of: train, eval")
        return self._splits[split][:n]
