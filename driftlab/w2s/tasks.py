"""Binary classification tasks for weak-to-strong experiments.

Burns et al. 2023 turn every dataset into binary classification of one text. Two kinds here:
- generated and shipped (offline): `facts` (capital/continent statements) and `sizes` (which of
  two things is heavier). Both test pretrained knowledge, which is what the ladder's rungs differ
  in; held-out entities keep a model from passing the test by memorising training items.
- hub loaders for the paper's sets (sciq, boolq, anthropic_hh, amazon_polarity, cosmos_qa),
  formatted like openai/weak-to-strong; offline they fail with one message.

Each factory returns a `TaskData`: a `pool` the pipeline draws splits A and B from (by seed) and
a fixed `test` split. `group` tags items for the systematic-flip experiment.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Literal

from driftlab.config import build_from_settings
from driftlab.errors import ConfigError, DriftlabError
from driftlab.registry import Registry
from driftlab.w2s.facts_data import COUNTRIES, MASSES, parse

W2S_TASKS: Registry = Registry("w2s task")


@dataclass(frozen=True)
class Item:
    text: str
    label: int  # 1 = true / the positive class
    group: str


@dataclass(frozen=True)
class TaskData:
    name: str
    source: str  # "generated" or "hub:<id>"
    difficulty: str
    question: str  # asked after the text when prompting: answered " yes" (label 1) or " no"
    pool: list[Item]
    test: list[Item]

    def texts(self) -> list[str]:
        return [it.text for it in self.pool] + [it.text for it in self.test]


def _held_out(entity: str, salt: str, frac: float) -> bool:
    """Entity-level test membership by hash: stable for any size, never shared with the pool."""
    h = int(hashlib.sha256(f"{salt}:{entity}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < frac


def check_task(spec) -> None:
    build_task(spec)


def build_task(spec) -> TaskData:
    factory = W2S_TASKS.get(spec.name)
    return build_from_settings(factory, spec.settings(), f"tasks.{spec.name}")


def _cap(items: list[Item], n: int | None, rng: random.Random) -> list[Item]:
    items = list(items)
    rng.shuffle(items)
    return items if n is None else items[:n]


@W2S_TASKS.register("facts")
def facts(
    difficulty: Literal["easy", "hard"] = "hard",
    test_frac: float = 0.34,
    seed: int = 0,
    max_test: int | None = None,
) -> TaskData:
    """True/false statements on capitals and continents of 121 countries.

    Difficulty: `hard` draws each false capital from a country on the same continent (Lima vs
    Quito), `easy` from another continent. Test countries never appear in the pool.
    """
    rng = random.Random(f"facts:{seed}")
    rows = parse(COUNTRIES)
    conts = sorted({r[2] for r in rows})
    pool: list[Item] = []
    test: list[Item] = []
    for country, capital, cont in rows:
        same = [r[1] for r in rows if r[2] == cont and r[0] != country]
        other = [r[1] for r in rows if r[2] != cont]
        wrong_cap = rng.choice(same if difficulty == "hard" else other)
        wrong_cont = rng.choice([c for c in conts if c != cont])
        items = [
            Item(f"The capital of {country} is {capital}.", 1, cont),
            Item(f"The capital of {country} is {wrong_cap}.", 0, cont),
            Item(f"{capital} is the capital city of {country}.", 1, cont),
            Item(
                f"{rng.choice(same if difficulty == 'hard' else other)} "
                f"is the capital city of {country}.",
                0,
                cont,
            ),
            Item(f"{country} is a country in {cont}.", 1, cont),
            Item(f"{country} is a country in {wrong_cont}.", 0, cont),
        ]
        (test if _held_out(country, "facts", test_frac) else pool).extend(items)
    return TaskData(
        "facts",
        "generated",
        f"{difficulty}: false capitals from "
        f"{'the same continent' if difficulty == 'hard' else 'another continent'}; "
        "held-out countries",
        "Is this statement true?",
        _cap(pool, None, rng),
        _cap(test, max_test, rng),
    )


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


@W2S_TASKS.register("sizes")
def sizes(
    min_ratio: float = 3.0,
    test_frac: float = 0.3,
    seed: int = 0,
    mixed_phrasing: bool = False,
    max_pool: int | None = 800,
    max_test: int | None = 400,
) -> TaskData:
    """ "A X is heavier than a Y." over 71 things with typical masses.

    Difficulty: `min_ratio`, the smallest mass ratio between the two things (10 = easy,
    1.5 = hard); `mixed_phrasing` also says "lighter", which makes the label an exclusive-or of
    the wording and the masses (no rung learned that from 200 examples). A test statement names
    at least one thing the pool never mentions.
    """
    if min_ratio < 1:
        raise ConfigError("tasks.sizes.min_ratio: must be at least 1")
    rng = random.Random(f"sizes:{seed}")
    things = [(n, float(m)) for n, m in parse(MASSES)]
    pool: list[Item] = []
    test: list[Item] = []
    for i, (x, mx) in enumerate(things):
        for y, my in things[i + 1 :]:
            ratio = max(mx, my) / min(mx, my)
            if ratio < min_ratio:
                continue
            a, b, ma, mb = (x, y, mx, my) if rng.random() < 0.5 else (y, x, my, mx)
            heavier = rng.random() < 0.5 if mixed_phrasing else True
            text = (
                f"{_article(a).capitalize()} is {'heavier' if heavier else 'lighter'} "
                f"than {_article(b)}."
            )
            label = int((ma > mb) == heavier)
            group = f"ratio~1e{int(math.log10(ratio))}"
            held = _held_out(x, "sizes", test_frac) or _held_out(y, "sizes", test_frac)
            (test if held else pool).append(Item(text, label, group))
    return TaskData(
        "sizes",
        "generated",
        f"mass ratio >= {min_ratio:g}; held-out things",
        "Is this statement true?",
        _cap(pool, max_pool, rng),
        _cap(test, max_test, rng),
    )


# ---- hub loaders (need the network) ------------------------------------------------------------


def _load_hub(path: str, name: str | None = None):
    try:
        from datasets import load_dataset

        return load_dataset(path, name) if name else load_dataset(path)
    except Exception as e:  # offline, missing, or renamed: one message, no traceback
        raise DriftlabError(
            f"hub dataset {path!r} could not be loaded ({type(e).__name__}); it needs the network "
            "(HF_DATASETS_OFFLINE must be unset). Offline, use a generated task: facts or sizes"
        ) from None


def _hub_task(
    name: str,
    hub_id: str,
    rows_train,
    rows_test,
    fmt,
    seed: int,
    max_pool: int,
    max_test: int,
    question: str,
) -> TaskData:
    rng = random.Random(f"{name}:{seed}")
    pool = _cap(
        [
            fmt(r, rng)
            for r in rows_train.shuffle(seed=seed).select(range(min(max_pool, len(rows_train))))
        ],
        max_pool,
        rng,
    )
    test = _cap(
        [
            fmt(r, rng)
            for r in rows_test.shuffle(seed=seed).select(range(min(max_test, len(rows_test))))
        ],
        max_test,
        rng,
    )
    return TaskData(name, f"hub:{hub_id}", "as published", question, pool, test)


def _pick(correct: str, wrong: list[str], rng: random.Random) -> tuple[str, int]:
    return (correct, 1) if rng.random() < 0.5 else (rng.choice(wrong), 0)


@W2S_TASKS.register("sciq")
def sciq(seed: int = 0, max_pool: int = 1000, max_test: int = 500) -> TaskData:
    """SciQ: a question with the correct answer or a distractor."""
    ds = _load_hub("allenai/sciq")

    def fmt(r, rng):
        ans, y = _pick(
            r["correct_answer"], [r["distractor1"], r["distractor2"], r["distractor3"]], rng
        )
        return Item(f"Q: {r['question']} A: {ans}", y, "sciq")

    return _hub_task(
        "sciq",
        "allenai/sciq",
        ds["train"],
        ds["test"],
        fmt,
        seed,
        max_pool,
        max_test,
        "Is this answer correct?",
    )


@W2S_TASKS.register("boolq")
def boolq(seed: int = 0, max_pool: int = 1000, max_test: int = 500) -> TaskData:
    """BoolQ: a passage and a yes/no question; the label is the answer."""
    ds = _load_hub("google/boolq")

    def fmt(r, rng) -> Item:
        return Item(
            f"Passage: {r['passage']}\nQuestion: {r['question']}?", int(r["answer"]), "boolq"
        )

    return _hub_task(
        "boolq",
        "google/boolq",
        ds["train"],
        ds["validation"],
        fmt,
        seed,
        max_pool,
        max_test,
        "Is the answer to the question yes?",
    )


@W2S_TASKS.register("anthropic_hh")
def anthropic_hh(seed: int = 0, max_pool: int = 1000, max_test: int = 500) -> TaskData:
    """Anthropic HH-RLHF: chosen (1) or rejected (0) conversations: the paper's reward-model task"""
    ds = _load_hub("Anthropic/hh-rlhf")

    def fmt(r, rng):
        return Item(r["chosen"], 1, "hh") if rng.random() < 0.5 else Item(r["rejected"], 0, "hh")

    return _hub_task(
        "anthropic_hh",
        "Anthropic/hh-rlhf",
        ds["train"],
        ds["test"],
        fmt,
        seed,
        max_pool,
        max_test,
        "Is the assistant's last reply the better one?",
    )


@W2S_TASKS.register("amazon_polarity")
def amazon_polarity(seed: int = 0, max_pool: int = 1000, max_test: int = 500) -> TaskData:
    """Amazon reviews: positive (1) or negative (0)."""
    ds = _load_hub("fancyzhx/amazon_polarity")
    fmt = lambda r, rng: Item(f"{r['title']}\n{r['content']}", int(r["label"]), "amazon")  # noqa: E731
    return _hub_task(
        "amazon_polarity",
        "fancyzhx/amazon_polarity",
        ds["train"],
        ds["test"],
        fmt,
        seed,
        max_pool,
        max_test,
        "Is this review positive?",
    )


@W2S_TASKS.register("cosmos_qa")
def cosmos_qa(seed: int = 0, max_pool: int = 1000, max_test: int = 500) -> TaskData:
    """Cosmos QA: a context, a question and the right answer or a wrong one."""
    ds = _load_hub("allenai/cosmos_qa")

    def fmt(r, rng):
        answers = [r[f"answer{i}"] for i in range(4)]
        right = answers[int(r["label"])]
        ans, y = _pick(right, [a for a in answers if a != right], rng)
        return Item(
            f"Context: {r['context']}\nQuestion: {r['question']}\nAnswer: {ans}", y, "cosmos"
        )

    return _hub_task(
        "cosmos_qa",
        "allenai/cosmos_qa",
        ds["train"],
        ds["validation"],
        fmt,
        seed,
        max_pool,
        max_test,
        "Is this answer correct?",
    )
