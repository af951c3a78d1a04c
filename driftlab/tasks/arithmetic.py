"""Seeded arithmetic word problems: an offline task whose difficulty is a knob.

A tiny model (SmolLM2-135M) must get some answers right for a self-improvement loop to have
anything to reinforce, and GSM8K is far too hard for it; here difficulty is set by the number
of operations, the operand size and which operations appear. The ground truth is computed,
never annotated, so it is always right: answers are positive integers.

Splits never share a question text: every text belongs to exactly one split by a hash of the
text, and each split draws from its own derived seed. This holds for any number of problems
asked, which a dedup of two finite lists could not promise.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from driftlab.errors import ConfigError
from driftlab.tasks import TASKS
from driftlab.tasks.base import Exemplar, Problem
from driftlab.tasks.numeric import NumericTask

OPERATIONS = ("+", "-", "*")
SPLITS = ("train", "eval")


@dataclass(frozen=True)
class _Theme:
    one: str  # singular noun
    many: str  # plural noun
    box: tuple[str, str]  # container, singular and plural, for a product "4 bags with 6 in each"
    gain: tuple[str, ...]  # verb phrases that add {n}
    loss: tuple[str, ...]  # verb phrases that take {n} away


_THEMES = (
    _Theme(
        "sticker",
        "stickers",
        ("sheet", "sheets"),
        ("buys {n} more {things}", "gets {n} more {things} from a friend"),
        ("gives {n} {things} to {his} brother", "uses {n} {things} to decorate a notebook"),
    ),
    _Theme(
        "apple",
        "apples",
        ("basket", "baskets"),
        ("picks {n} more {things}", "buys {n} more {things} at the market"),
        ("eats {n} {things}", "gives {n} {things} to a neighbor"),
    ),
    _Theme(
        "marble",
        "marbles",
        ("bag", "bags"),
        ("wins {n} more {things}", "finds {n} more {things} under the sofa"),
        ("loses {n} {things} in a game", "gives {n} {things} to {his} sister"),
    ),
    _Theme(
        "dollar",
        "dollars",
        ("envelope", "envelopes"),
        ("earns {n} more {things} washing cars", "gets {n} {things} for {his} birthday"),
        ("spends {n} {things} on lunch", "pays {n} {things} for a book"),
    ),
    _Theme(
        "page",
        "pages",
        ("notebook", "notebooks"),
        ("glues in {n} more {things}", "writes {n} more {things}"),
        ("tears out {n} {things}", "throws away {n} {things}"),
    ),
    _Theme(
        "cookie",
        "cookies",
        ("tray", "trays"),
        ("bakes {n} more {things}", "gets {n} more {things} from {his} aunt"),
        ("eats {n} {things}", "shares {n} {things} with {his} friends"),
    ),
    _Theme(
        "book",
        "books",
        ("box", "boxes"),
        ("borrows {n} more {things} from the library", "is given {n} {things}"),
        ("donates {n} {things} to the school", "lends {n} {things} to a classmate"),
    ),
    _Theme(
        "seashell",
        "seashells",
        ("bucket", "buckets"),
        ("collects {n} more {things}", "finds {n} more {things} on the beach"),
        ("gives {n} {things} to {his} cousin", "drops {n} {things} on the way home"),
    ),
    _Theme(
        "pencil",
        "pencils",
        ("box", "boxes"),
        ("buys {n} more {things}", "finds {n} more {things} in {his} desk"),
        ("loses {n} {things}", "lends {n} {things} to classmates"),
    ),
    _Theme(
        "egg",
        "eggs",
        ("carton", "cartons"),
        ("collects {n} more {things} from the hens", "buys {n} more {things}"),
        ("uses {n} {things} to bake a cake", "breaks {n} {things}"),
    ),
    _Theme(
        "flower",
        "flowers",
        ("bunch", "bunches"),
        ("picks {n} more {things}", "plants {n} more {things}"),
        ("gives {n} {things} to {his} grandmother", "puts {n} {things} in a vase for a friend"),
    ),
    _Theme(
        "card",
        "cards",
        ("pack", "packs"),
        ("trades for {n} more {things}", "wins {n} more {things}"),
        ("trades away {n} {things}", "gives {n} {things} to {his} best friend"),
    ),
)
_PEOPLE = (
    ("Mia", "she", "her"),
    ("Leo", "he", "his"),
    ("Ava", "she", "her"),
    ("Noah", "he", "his"),
    ("Zoe", "she", "her"),
    ("Omar", "he", "his"),
    ("Lena", "she", "her"),
    ("Ravi", "he", "his"),
    ("Emma", "she", "her"),
    ("Jack", "he", "his"),
    ("Sofia", "she", "her"),
    ("Kenji", "he", "his"),
    ("Priya", "she", "her"),
    ("Tom", "he", "his"),
    ("Grace", "she", "her"),
    ("Mateo", "he", "his"),
    ("Aisha", "she", "her"),
    ("Ben", "he", "his"),
    ("Nora", "she", "her"),
    ("Sam", "he", "his"),
)
_STARTS = (
    "{name} has {n} {things}.",
    "{name} starts with {n} {things}.",
    "At first, {name} has {n} {things}.",
)
_PRODUCT_STARTS = (
    "{name} has {k} {boxes} with {n} {things} in each.",
    "{name} has {k} {boxes}, and each one holds {n} {things}.",
)
_CONNECTIVES = ("Then ", "After that, ", "Later, ", "Next, ")
_QUESTIONS = (
    "How many {many} does {name} have now?",
    "How many {many} does {name} have in the end?",
)

EXEMPLARS = [
    Exemplar(
        "Mia has 12 stickers. She gives 5 stickers to her brother. Then she buys 3 more "
        "stickers. How many stickers does Mia have now?",
        "Mia starts with 12 stickers. After giving 5 away she has 12 - 5 = 7. After buying 3 "
        "more she has 7 + 3 = 10. The answer is 10.",
        "10",
    ),
    Exemplar(
        "Leo has 4 bags with 6 marbles in each. He loses 7 marbles in a game. How many marbles "
        "does Leo have left?",
        "4 bags with 6 marbles in each hold 4 * 6 = 24 marbles. Losing 7 leaves 24 - 7 = 17. "
        "The answer is 17.",
        "17",
    ),
    Exemplar(
        "Ava has 9 dollars. She earns 6 more dollars washing cars. Then the number of dollars "
        "Ava has doubles. How many dollars does Ava have now?",
        "Ava has 9 + 6 = 15 dollars after washing cars. Doubling gives 15 * 2 = 30. "
        "The answer is 30.",
        "30",
    ),
    Exemplar(
        "Omar has 15 apples. He eats 2 apples and then gives 4 apples to a neighbor. How many "
        "apples does Omar have in the end?",
        "Omar has 15 apples. Eating 2 leaves 15 - 2 = 13. Giving 4 away leaves 13 - 4 = 9. "
        "The answer is 9.",
        "9",
    ),
]


def evaluate(ops: list[str], operands: list[int]) -> int:
    """The answer of a problem: operations applied left to right, in story order."""
    value = operands[0]
    for op, n in zip(ops, operands[1:], strict=True):
        value = value + n if op == "+" else value - n if op == "-" else value * n
    return value


def split_of(question: str) -> str:
    """The one split a question text may appear in, whatever the seed or count asked."""
    return SPLITS[hashlib.sha256(question.encode()).digest()[0] % 2]


@TASKS.register("arithmetic")
class ArithmeticTask(NumericTask):
    """Word problems with `steps` operations on operands 1..max_operand (products: 2..)."""

    name = "arithmetic"

    def __init__(
        self,
        steps: int = 1,
        max_operand: int = 10,
        operations: str | list[str] | tuple[str, ...] = ("+", "-"),
        seed: int = 0,
    ) -> None:
        if not isinstance(steps, int) or not 1 <= steps <= 4:
            raise ConfigError(f"task.steps must be an integer from 1 to 4, got {steps!r}")
        if not isinstance(max_operand, int) or not 1 <= max_operand <= 10**6:
            raise ConfigError(
                f"task.max_operand must be an integer from 1 to 1000000, got {max_operand!r}"
            )
        if not isinstance(seed, int):
            raise ConfigError(f"task.seed must be an integer, got {seed!r}")
        ops = set(operations)
        if not ops or not ops <= set(OPERATIONS):
            raise ConfigError(
                f"task.operations must be a non-empty subset of + - *, got {operations!r}"
            )
        self.steps, self.max_operand, self.seed = steps, max_operand, seed
        self.operations = tuple(op for op in OPERATIONS if op in ops)  # canonical: same problems
        self.exemplars = list(EXEMPLARS)

    def problems(self, split: str, n: int) -> list[Problem]:
        """The first n problems of a split; asking for more extends the list, never changes it."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
        rng = random.Random(f"driftlab-arithmetic:{self.seed}:{split}")
        seen = {ex.question for ex in self.exemplars}
        out: list[Problem] = []
        for _ in range(1000 + 100 * n):
            if len(out) >= n:
                break
            ops, operands = self._draw(rng)
            text = self._render(rng, ops, operands)
            if text in seen or split_of(text) != split:
                continue
            seen.add(text)
            meta = {"steps": len(ops), "ops": ops, "operands": operands}
            out.append(Problem(f"{split}-{len(out)}", text, str(evaluate(ops, operands)), meta))
        if len(out) < n:
            raise ConfigError(
                f"arithmetic task: could only make {len(out)} distinct {split} problems of {n}; "
                "raise max_operand or steps"
            )
        return out

    def reference_solution(self, problem: Problem) -> str:
        """A correct worked solution in the exemplars' style: the "human data" replay mixes in.

        Replay (Gerstgrasser et al. 2024) needs data from the original distribution rather
        than the model's; the generator knows every step, so it writes that data exactly.
        """
        ops, operands = problem.meta["ops"], problem.meta["operands"]
        value, steps = operands[0], []
        for op, n in zip(ops, operands[1:], strict=True):
            new = evaluate([op], [value, n])
            steps.append(f"{value} {op} {n} = {new}.")
            value = new
        return f"Start with {operands[0]}. {' '.join(steps)} The answer is {value}."

    def _draw(self, rng: random.Random) -> tuple[list[str], list[int]]:
        """Operations and operands whose running value stays positive."""
        top = self.max_operand
        for _ in range(200):
            ops = [rng.choice(self.operations) for _ in range(self.steps)]
            value = rng.randint(1, top)
            operands = [value]
            for op in ops:
                if op == "-" and value < 2:
                    break
                if op == "-":  # leave at least one: "0 left" answers would crowd the split
                    k = rng.randint(1, min(top, value - 1))
                else:  # multiplying by 1 would be a step that does nothing
                    k = rng.randint(min(2, top) if op == "*" else 1, top)
                operands.append(k)
                value = evaluate([op], [value, k])
            else:
                return ops, operands
        raise ConfigError(
            f"arithmetic task: steps={self.steps}, max_operand={self.max_operand} and "
            f"operations={list(self.operations)} cannot keep answers above zero"
        )

    def _render(self, rng: random.Random, ops: list[str], operands: list[int]) -> str:
        name, he, his = rng.choice(_PEOPLE)
        theme = rng.choice(_THEMES)
        used: set[str] = set()  # templates already used, so that steps read differently

        def pick(options: tuple[str, ...]) -> str:
            fresh = [o for o in options if o not in used] or list(options)
            choice = rng.choice(fresh)
            used.add(choice)
            return choice

        def phrase(op: str, n: int) -> str:
            things = theme.one if n == 1 else theme.many
            return pick(theme.gain if op == "+" else theme.loss).format(n=n, things=things, his=his)

        if ops[0] == "*":  # the first product reads "4 bags with 6 marbles in each"
            k, n = operands[0], operands[1]
            box = theme.box[0] if k == 1 else theme.box[1]
            things = theme.one if n == 1 else theme.many
            start = pick(_PRODUCT_STARTS)
            sentences = [start.format(name=name, k=k, boxes=box, n=n, things=things)]
            rest = list(zip(ops[1:], operands[2:]))
        else:
            n = operands[0]
            things = theme.one if n == 1 else theme.many
            sentences = [pick(_STARTS).format(name=name, n=n, things=things)]
            rest = list(zip(ops, operands[1:]))
        i = 0
        while i < len(rest):
            op, n = rest[i]
            conn = pick(_CONNECTIVES) if rng.random() < 0.7 else ""
            if op == "*":
                grow = {2: "doubles", 3: "triples"}.get(n, f"becomes {n} times as large")
                clause = f"{conn}the number of {theme.many} {name} has {grow}"
            else:
                clause = f"{conn}{rng.choice((he, he, name))} {phrase(op, n)}"
                if i + 1 < len(rest) and rest[i + 1][0] != "*" and rng.random() < 0.3:
                    i += 1  # "She gives 5 stickers to her brother and then buys 3 more stickers."
                    clause += " and then " + phrase(*rest[i])
            sentences.append(clause[0].upper() + clause[1:] + ".")
            i += 1
        left = ("How many {many} does {name} have left?",) if ops[-1] == "-" else ()
        question = rng.choice(_QUESTIONS + left)
        sentences.append(question.format(many=theme.many, name=name))
        return " ".join(sentences)
