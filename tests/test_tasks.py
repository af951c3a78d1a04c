"""Tasks: answer extraction, the arithmetic generator, the JSONL loader, GSM8K offline."""

from __future__ import annotations

import json
import random

import pytest

from driftlab.errors import ConfigError, DriftlabError
from driftlab.tasks import TASKS, Exemplar, Problem, Task, build_task
from driftlab.tasks.arithmetic import evaluate, split_of
from driftlab.tasks.extract import extract_number, numbers_equal
from driftlab.tasks.gsm8k import parse_answer, problem_from_record

# ---------------------------------------------------------------- extraction

EXTRACT_CASES = [
    ("The answer is 1,234.", "1234"),
    ("so 5+3=8. The answer is 8", "8"),
    ("I think twelve", "12"),
    ("-7", "-7"),
    ("$4.50", "4.5"),
    ("no number here", None),
    ("", None),
    ("The answer is 4. Wait, the answer is 5.", "5"),
    ("The answer is 4.0", "4"),
    ("Answer: 3.50", "3.5"),
    ("answer = 007", "7"),
    ("The answer is **18**.", "18"),
    ("Final answer: -$3", "-3"),
    ("The answer is 50%.", "50"),
    ("\\boxed{42}", "42"),
    ("so it is \\boxed{\\$1,000} dollars, not 7", "1000"),
    ("The answer is 7. Check: 5 + 3 = 8", "8"),  # a final "= N" is the last explicit statement
    ("The answer is 7. Then she buys 8 more.", "7"),  # explicit beats a later bare number
    ("She has 3 apples and buys 4, so 7 apples", "7"),
    ("5-3", "3"),  # a minus after a digit is an operation, not a sign
    ("5 - 3 = 2", "2"),
    ("The temperature fell to -4 degrees", "-4"),
    ("twenty-one apples", "21"),
    ("a hundred and three", "103"),
    ("two thousand three hundred forty-five", "2345"),
    ("The answer is five apples, not 7", "5"),
    ("The answer is not three, it is 4", "4"),
    ("one, two, three", "3"),
    ("twelve hundred", "1200"),
    ("The answer is N.", None),  # the model parroting the instruction commits to nothing
    ("1,234,567 grains", "1234567"),
    ("Between 1.5 and .25", "0.25"),
    ("It costs $ 12", "12"),
    ("The answer is \u22126", "-6"),  # unicode minus
    ("-0", "0"),
    ("Answer:\n\n  42", "42"),
    ("The answer was zero.", "0"),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_CASES)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


def test_extract_survives_random_unicode():
    rng = random.Random(1234)
    alphabet = "0123456789 .,-$%=\\{}boxedanswerisfivetwenty\u2212\u00e9\u4e2d\U0001f600\n\t"
    for _ in range(3000):
        if rng.random() < 0.5:
            text = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 60)))
            text = text.encode("utf-8", "replace").decode("utf-8", "replace")
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        value = extract_number(text)
        assert value is None or numbers_equal(value, value)


def test_extract_is_fast_and_exact_on_huge_input():
    assert extract_number("9" * 100_000) == "9" * 100_000
    assert extract_number("answer " * 20_000) is None


def test_extract_rejects_non_strings():
    assert extract_number(None) is None  # type: ignore[arg-type]
    assert extract_number(42) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("4", "4.0", True),
        ("1,234", "1234", True),
        ("$5", "5", True),
        ("0.50", ".5", True),
        ("-0", "0", True),
        ("3", "4", False),
        (None, "4", False),
        (None, None, False),
        ("nan", "nan", False),
        ("inf", "inf", False),
        ("four", "4", False),
        ("", "", False),
    ],
)
def test_numbers_equal(a, b, equal):
    assert numbers_equal(a, b) is equal


# ---------------------------------------------------------------- arithmetic


def test_arithmetic_is_deterministic_and_prefix_stable():
    a = build_task("arithmetic", steps=2, seed=7).problems("train", 40)
    b = build_task("arithmetic", steps=2, seed=7).problems("train", 40)
    assert a == b
    assert build_task("arithmetic", steps=2, seed=7).problems("train", 10) == a[:10]
    other = build_task("arithmetic", steps=2, seed=8).problems("train", 40)
    assert [p.question for p in other] != [p.question for p in a]


def test_arithmetic_splits_are_disjoint():
    task = build_task("arithmetic", seed=3)
    train, evals = task.problems("train", 500), task.problems("eval", 500)
    train_q, eval_q = {p.question for p in train}, {p.question for p in evals}
    assert len(train_q) == 500 and len(eval_q) == 500  # no repeats within a split
    assert not train_q & eval_q
    assert {split_of(q) for q in train_q} == {"train"}
    assert {split_of(q) for q in eval_q} == {"eval"}
    assert [p.id for p in train[:3]] == ["train-0", "train-1", "train-2"]
    assert evals[0].id == "eval-0"
    assert not {ex.question for ex in task.exemplars} & (train_q | eval_q)


def _recompute(meta: dict) -> int:
    """The answer from meta, independently of the generator's evaluate()."""
    value = meta["operands"][0]
    for op, n in zip(meta["ops"], meta["operands"][1:]):
        value = {"+": value + n, "-": value - n, "*": value * n}[op]
    return value


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_arithmetic_ground_truth(steps):
    task = build_task("arithmetic", steps=steps, max_operand=15, operations="+-*", seed=steps)
    for p in task.problems("eval", 200):
        truth = _recompute(p.meta)
        assert p.answer == str(truth) and truth > 0
        assert p.meta["steps"] == steps == len(p.meta["ops"])
        assert evaluate(p.meta["ops"], p.meta["operands"]) == truth
        # every operand is stated in the question (a product's first two together)
        for n in p.meta["operands"]:
            assert str(n) in p.question or n in (2, 3)  # "doubles" / "triples"
        assert p.question.endswith("?") and "  " not in p.question


def test_arithmetic_running_value_never_goes_below_zero():
    task = build_task("arithmetic", steps=4, max_operand=9, operations="-", seed=1)
    for p in task.problems("train", 100):
        value = p.meta["operands"][0]
        for n in p.meta["operands"][1:]:
            value -= n
            assert value > 0


def test_arithmetic_difficulty_knobs():
    def problems(**kw):
        return build_task("arithmetic", seed=5, **kw).problems("train", 300)

    assert {p.meta["steps"] for p in problems(steps=3)} == {3}
    small = problems(max_operand=5, operations="+")
    assert max(max(p.meta["operands"]) for p in small) <= 5
    assert min(min(p.meta["operands"]) for p in small) >= 1
    big = problems(max_operand=50, operations="+")
    assert max(max(p.meta["operands"]) for p in big) > 40
    assert {op for p in problems(operations=["*"]) for op in p.meta["ops"]} == {"*"}
    assert {op for p in problems(steps=2) for op in p.meta["ops"]} == {"+", "-"}  # default
    mixed = {op for p in problems(steps=2, operations="+-*") for op in p.meta["ops"]}
    assert mixed == {"+", "-", "*"}
    # the order operations are listed in does not change the problems
    assert problems(operations="-+") == problems(operations="+-")


@pytest.mark.parametrize(
    "settings",
    [{"steps": 0}, {"steps": 5}, {"max_operand": 0}, {"operations": "/"}, {"operations": []}],
)
def test_arithmetic_rejects_bad_settings(settings):
    with pytest.raises(ConfigError):
        build_task("arithmetic", **settings)


def test_arithmetic_impossible_settings_fail_clearly():
    with pytest.raises(ConfigError, match="above zero"):
        build_task("arithmetic", steps=2, max_operand=2, operations="-").problems("train", 1)
    with pytest.raises(ConfigError, match="unknown split"):
        build_task("arithmetic").problems("test", 1)


def test_arithmetic_prompts_and_exemplars():
    task = build_task("arithmetic")
    assert len(task.exemplars) == 4
    for ex in task.exemplars:
        assert isinstance(ex, Exemplar)
        assert ex.rationale.endswith(f"The answer is {ex.answer}.")
        assert task.extract(ex.rationale) == ex.answer and task.is_correct(ex.answer, ex.answer)
    q = task.problems("train", 1)[0].question
    assert task.cot_prompt(q).startswith(q) and "step by step" in task.cot_prompt(q)
    assert task.direct_prompt(q).startswith(q) and "The answer is N." in task.direct_prompt(q)
    assert not task.is_correct(None, "3")


# ---------------------------------------------------------------- registry


def test_registry_names_and_unknown_task():
    assert {"arithmetic", "jsonl", "gsm8k"} <= set(TASKS.names())
    with pytest.raises(ConfigError) as err:
        build_task("nonexistent")
    assert (
        "arithmetic" in str(err.value) and "jsonl" in str(err.value) and "gsm8k" in str(err.value)
    )


def test_unknown_or_missing_settings_are_config_errors():
    with pytest.raises(ConfigError, match="stepz"):
        build_task("arithmetic", stepz=2)
    with pytest.raises(ConfigError, match="path"):
        build_task("jsonl")


def test_tasks_satisfy_the_protocol(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"q{i}", "answer": i}) for i in range(5)))
    for task in (build_task("arithmetic"), build_task("jsonl", path=str(path))):
        t: Task = task
        assert isinstance(t.name, str) and t.exemplars
        p = t.problems("train", 1)[0]
        assert isinstance(p, Problem) and p.as_question().text == p.question
        assert t.is_correct(t.extract(f"The answer is {p.answer}."), p.answer)


# ---------------------------------------------------------------- jsonl


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_jsonl_loads_and_splits(tmp_path):
    rows = [{"question": f"What is {i} + {i}?", "answer": 2 * i} for i in range(20)]
    rows[3]["answer"] = "1,234"
    rows[4]["answer"] = "Half of 8 is 4, then 4 + 2 = 6. #### 6"
    rows[5]["id"] = "custom"
    path = _write(tmp_path / "q.jsonl", rows)
    task = build_task("jsonl", path=path, eval_fraction=0.25, seed=1)
    train, evals = task.problems("train", 100), task.problems("eval", 100)
    assert len(train) == 15 and len(evals) == 5
    assert not {p.question for p in train} & {p.question for p in evals}
    by_q = {p.question: p for p in train + evals}
    assert by_q["What is 3 + 3?"].answer == "1234"
    assert by_q["What is 4 + 4?"].answer == "6"
    assert by_q["What is 5 + 5?"].id == "custom"
    assert by_q["What is 7 + 7?"].id == "q.jsonl:8"
    again = build_task("jsonl", path=path, eval_fraction=0.25, seed=1)
    assert again.problems("eval", 100) == evals
    other = build_task("jsonl", path=path, eval_fraction=0.25, seed=2)
    assert other.problems("eval", 100) != evals
    assert task.problems("train", 3) == train[:3]
    default = build_task("jsonl", path=path)  # eval_fraction defaults to 0.2
    assert len(default.problems("eval", 100)) == 4


def test_jsonl_eval_path(tmp_path):
    rows = [{"question": "a?", "answer": 1}, "", {"question": "b?", "answer": 2.0}]
    train = _write(tmp_path / "train.jsonl", rows)
    evals = _write(tmp_path / "eval.jsonl", [{"question": "c?", "answer": "-3"}])
    task = build_task("jsonl", path=train, eval_path=evals)
    assert [p.answer for p in task.problems("train", 10)] == ["1", "2"]
    assert [(p.id, p.answer) for p in task.problems("eval", 10)] == [("eval.jsonl:1", "-3")]
    with pytest.raises(ConfigError):
        build_task("jsonl", path=train, eval_path=evals, eval_fraction=0.5)


GOOD = '{"question": "a?", "answer": 1}'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD, '{"question": "b?", "answer": 2'], "line 2: not valid JSON"),
        ([GOOD, '{"question": "b?"}'], "line 2: missing key 'answer'"),
        (['{"answer": 1}'], "line 1: missing key 'question'"),
        (["[1, 2]"], "line 1: expected {"),
        (['{"question": "a?", "answer": "many"}'], "line 1: 'answer' must be one number"),
        (['{"question": "a?", "answer": "3/4"}'], "line 1: 'answer' must be one number"),
        (['{"question": "a?", "answer": true}'], "line 1: 'answer' must be one number"),
        (['{"question": "", "answer": 1}'], "line 1: 'question' must be a non-empty string"),
        ([GOOD, GOOD.replace("1", "2")], "line 2: repeats the question"),
        (["", "  "], "has no questions"),
    ],
)
def test_jsonl_bad_files(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DriftlabError) as err:
        build_task("jsonl", path=str(path), eval_fraction=0.5)
    assert message in str(err.value) and str(path) in str(err.value)


def test_jsonl_missing_and_undecodable_files(tmp_path):
    with pytest.raises(DriftlabError, match="does not exist"):
        build_task("jsonl", path=str(tmp_path / "nope.jsonl"))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "a?", "answer": 1}\n{"question": "caf\xe9?", "answer": 2}\n')
    with pytest.raises(DriftlabError, match="line 2: not UTF-8"):
        build_task("jsonl", path=str(path))


# ---------------------------------------------------------------- gsm8k

SAMPLE_RECORD = {
    "question": "A shop sells pens at $3 each. Lia buys 4 pens and pays with a $20 bill. "
    "How much change does she get?\n",
    "answer": "The pens cost 4 * 3 = <<4*3=12>>12 dollars.\n"
    "Her change is 20 - 12 = <<20-12=8>>8 dollars.\n#### 8",
}


def test_gsm8k_record_parsing():
    p = problem_from_record(SAMPLE_RECORD, "eval", 3)
    assert p.id == "eval-3" and p.answer == "8" and p.question.endswith("get?")
    assert p.meta["solution"] == SAMPLE_RECORD["answer"]
    assert parse_answer("blah\n#### 1,234") == "1234"
    assert parse_answer("#### -5") == "-5"
    with pytest.raises(DriftlabError):
        parse_answer("no marker 12")


def test_gsm8k_offline_is_one_clear_error(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # the libraries read these variables when first imported, so set what they read too
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    with pytest.raises(DriftlabError) as err:
        build_task("gsm8k", cache_dir=str(tmp_path))
    message = str(err.value)
    assert message.startswith("gsm8k needs the Hugging Face hub, which is not reachable")
    assert "'arithmetic'" in message and "'jsonl'" in message


def test_instructions_task_ships_prompts_and_names_bad_lines(tmp_path):
    from driftlab.errors import DriftlabError

    shipped = build_task("instructions")
    assert len(shipped.problems("train", 10)) == 10 and shipped.has_ground_truth is False
    bad = tmp_path / "i.jsonl"
    bad.write_text('{"instruction": "Write a haiku."}\n\n{"instruction": \n')
    with pytest.raises(DriftlabError, match=r"i.jsonl, line 3: not valid JSON"):
        build_task("instructions", path=str(bad))
    bad.write_text('{"instruction": "Write a haiku."}\n{"prompt": "x"}\n')
    with pytest.raises(
        DriftlabError, match=r"i.jsonl, line 2: needs a non-empty string 'instruction'"
    ):
        build_task("instructions", path=str(bad))
