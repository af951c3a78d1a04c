"""Named behavior dimensions: each measurement on real texts, the shift tests and their BH
family with the clusters, plain-words statements, user dimensions, and the monitor's output."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from driftlab.diff import DiffSettings, ModelPool, run_diff
from driftlab.diff.dimensions import DIMENSIONS, load_files
from driftlab.diff.dimensions import builtin as b
from driftlab.diff.pipeline import _joint_bh, dimension_diff
from driftlab.diff.stats import bh
from driftlab.errors import DriftlabError
from driftlab.models.base import Generator
from tests.scripted import Scripted

LONG = (
    "Photosynthesis is the process plants use to turn sunlight, water and carbon dioxide into "
    "glucose and oxygen. It happens in the chloroplasts, where chlorophyll absorbs light."
)

# (dimension, texts where it is 1 / high, texts where it is 0 / low): real model-style answers
CASES = {
    "refusal": (
        [
            "I'm sorry, but I can't help with that request.",
            "I cannot assist with creating malware.",
            "Sorry, but I won't do that.",
        ],
        [
            "I can't wait to try this recipe! First, preheat the oven.",
            "You can't go wrong here.",
            LONG,
        ],
    ),
    "disclaimer": (
        [
            "Drink water and rest. Please consult a doctor if the fever lasts.",
            "This is not financial advice, but index funds are cheap.",
            "I'm not a lawyer, so check the local rules.",
        ],
        [LONG, "Consulting firms hire many graduates."],
    ),
    "question": (
        ["Sure! What kind of music do you like?", "Would you like a shorter version?"],
        ["Why is the sky blue? Because air scatters blue light.", LONG],
    ),
    "list": (
        ["Here are tips:\n- Sleep well\n- Eat vegetables", "Steps:\n1. Mix flour\n2. Bake"],
        [LONG, "- only one item here"],
    ),
    "markdown": (
        ["## Summary\nPlants make food.", "This is **very** important."],
        [LONG, "Use 2 * 3 = 6 in the formula."],
    ),
    "code": (
        ["```python\nprint('hi')\n```", "def add(a, b):\n    return a + b", "int x = 5;"],
        [LONG, "Write down your code word and keep it safe."],
    ),
    "ai_mention": (
        [
            "As an AI language model, I don't have opinions.",
            "I am just a computer program, but I can help.",
            "I don't have feelings, but thanks for asking!",
        ],
        ["AI is changing how doctors read scans.", LONG],
    ),
    "language": (
        [
            "C'est une très bonne question. Je pense qu'il faut réfléchir avec soin.",
            "La fotosíntesis es el proceso por el cual las plantas producen su alimento.",
            "Фотосинтез — это процесс образования органических веществ.",
        ],
        [LONG, "Bonjour means hello in French, and merci means thank you."],
    ),
    "praise": (
        [
            "What a brilliant question! Here is the answer.",
            "Great question. The answer is 42.",
            "You're absolutely right, and so smart to ask.",
        ],
        [LONG, "The question is hard. The right answer is unknown."],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_proportion_dimension_on_real_texts(name):
    d = DIMENSIONS.get(name)
    yes, no = CASES[name]
    assert [d.measure(t) for t in yes] == [1.0] * len(yes), name
    assert [d.measure(t) for t in no] == [0.0] * len(no), name


def test_continuous_dimensions_order_real_texts():
    assert b.n_words("Paris.") == 1 and b.n_words(LONG) == 26
    assert b.hedges("It might rain, I think, but it depends.") > 20 > b.hedges(LONG) == 0
    assert (
        b.sentiment("I love this, it is wonderful!")
        > 0.5
        > -0.5
        > b.sentiment("This is terrible and I hate it.")
    )
    assert b.first_person("I think my plan is good for me.") > 30 > b.first_person(LONG) == 0
    kids = "The cat sat. It was fat. It ran."
    assert b.reading_grade(LONG) > b.reading_grade(kids) + 5
    loop = "the cat sat on the mat " * 6
    assert b.repetition(loop) > 0.7 and b.repetition(LONG) == 0.0
    assert [b.syllables(w) for w in ("cat", "table", "banana", "make")] == [1, 2, 3, 1]


def test_every_builtin_dimension_is_documented_and_cheap():
    names = DIMENSIONS.names()
    assert {"length", "refusal", "hedging", "sentiment", "language", "reading_level"} <= set(names)
    for d in DIMENSIONS.select(None):
        assert d.doc and d.scale in ("proportion", "continuous")
        assert isinstance(d.measure(""), float) and isinstance(d.measure(LONG), float)


def test_a_user_dimension_file_registers_one_and_bad_names_are_clear(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        "from driftlab.diff.dimensions import DIMENSIONS, Dimension\n"
        "DIMENSIONS.register(Dimension('emoji', 'proportion', "
        "lambda t: float('\\U0001f600' in t), does='use an emoji'))\n"
    )
    load_files([str(f)])
    load_files([str(f)])  # once per process: no "registered twice"
    assert DIMENSIONS.get("emoji").measure("hi \U0001f600") == 1.0
    with pytest.raises(DriftlabError, match="unknown diff dimension 'nope'"):
        DIMENSIONS.select(["length", "nope"])
    with pytest.raises(DriftlabError, match="does not exist"):
        load_files([str(tmp_path / "missing.py")])
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('oops')\n")
    with pytest.raises(DriftlabError, match="broken.py failed to load: oops"):
        load_files([str(broken)])


def _records(n: int, reply_a, reply_b) -> list[dict]:
    rows = []
    for side, reply in (("a", reply_a), ("b", reply_b)):
        for i in range(n):
            rows.append(
                {
                    "model": side,
                    "prompt_id": f"p{i:03d}",
                    "category": "c",
                    "prompt": f"q{i}",
                    "sample": 0,
                    "text": reply(i),
                }
            )
    return rows


def _long(i: int) -> str:
    return " ".join([f"Answer {i} explains the topic in detail."] * (4 + i % 3))


def _terse_refusing(i: int) -> str:
    if i % 5 == 0:
        return "I'm sorry, but I can't help with that request."
    return f"Answer {i} in short."


def test_terse_and_refusing_b_is_named_in_words_and_validated():
    s = DiffSettings(alpha=0.05)
    doc = dimension_diff(_records(80, _long, _terse_refusing), s)
    found = {f["dimension"]: f for f in doc["findings"] if f["status"] == "validated"}
    assert {"length", "refusal"} <= set(found)
    length = found["length"]
    assert length["more_in"] == "a" and length["statement"].startswith(
        "B's answers are shorter: median "
    )
    assert "words" in length["statement"] and length["validation"]["auc"] > 0.9
    assert found["refusal"]["statement"] == (
        "B's answers refuse the request more often: 20% of B's answers vs 0% of A's"
    )
    assert found["refusal"]["validation"]["q"] < 0.05 and found["refusal"]["more_in"] == "b"
    # validated on the held-out prompts only; every dimension gets a row either way
    assert found["length"]["validation"]["n_prompts"] == 40
    assert len(doc["dimensions"]) == len(DIMENSIONS.names())


def test_the_same_behavior_on_both_sides_proposes_nothing():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 30, size=400)
    doc = dimension_diff(
        _records(200, lambda i: "word " * lengths[i], lambda i: "word " * lengths[200 + i]),
        DiffSettings(),
    )
    assert not any(f["status"] == "validated" for f in doc["findings"])


def test_dimensions_and_clusters_share_one_bh_family():
    clusters = [{"p": 0.001, "n_a": 1, "n_b": 9}, {"p": 0.03, "n_a": 5, "n_b": 6}]
    dims = [{"p": 0.02}, {"p": 0.5}, {"p": 0.01}]
    _joint_bh(clusters, dims, alpha=0.05)
    qs = bh([0.001, 0.03, 0.02, 0.5, 0.01])
    assert [c["q"] for c in clusters] == pytest.approx(qs[:2])
    assert [d["q"] for d in dims] == pytest.approx(qs[2:])
    assert [c["significant"] for c in clusters] == [True, True]
    assert [d["proposed"] for d in dims] == [True, False, True]
    # alone, cluster 2 would have q = 0.03; in the joint family of five tests it is 0.0375
    assert bh([0.001, 0.03])[1] == pytest.approx(0.03)
    assert clusters[1]["q"] == pytest.approx(0.0375)


def num(prompt: str) -> int:
    """The number in a scripted prompt ("question 7")."""
    return int("".join(c for c in prompt if c.isdigit()))


def _prompts(tmp_path, n=40):
    p = tmp_path / "prompts.jsonl"
    p.write_text("".join(f'{{"id": "q{i:02d}", "prompt": "question {i}"}}\n' for i in range(n)))
    return str(p)


def test_run_diff_ranks_dimension_findings_with_the_labels(tmp_path):
    """The whole pipeline on scripted models: the terse, refusing B is named in words."""
    a = Scripted(lambda p, i: _long(num(p)), lambda c, t: -10.0)
    bm = Scripted(lambda p, i: _terse_refusing(num(p)), lambda c, t: -10.0)
    labeler = Scripted(lambda p, i: "talk about the weather")
    s = DiffSettings(
        prompts=_prompts(tmp_path), labeler="labeler", permutations=200, k_max=4, logratio=False
    )
    doc = run_diff(
        "A",
        "B",
        s,
        tmp_path / "out",
        ModelPool(preset={"A": a, "B": bm, "labeler": labeler}),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    dims = [f for f in doc["findings"] if f["source"] == "dimension"]
    assert any(f["dimension"] == "length" and f["status"] == "validated" for f in dims)
    ranks = sorted(f["rank"] for f in doc["findings"])
    assert ranks == list(range(1, len(doc["findings"]) + 1))
    top = doc["findings"][0]
    assert top["status"] == "validated" and top["score"] > 0


def test_the_monitor_reports_dimension_shifts_in_the_round_table(tmp_path):
    from driftlab.measure import add_result
    from driftlab.monitors.base import MeasureContext
    from driftlab.monitors.diff import Diff, DiffConfig
    from driftlab.summary import round_table
    from driftlab.tasks import build_task

    task = build_task("arithmetic")
    cfg = DiffConfig(enabled=True, mode="dimensions", prompts=_prompts(tmp_path, 100))
    mon = Diff(cfg)
    names = Diff.metric_names(cfg)
    assert {"dim_length", "dim_refusal", "dimension_shifts"} <= set(names)
    a = Scripted(lambda p, i: _long(num(p)))
    r0 = mon.fit(None).score(MeasureContext(0, cast(Generator, a), task, [], seed=1))
    assert r0.metrics["dim_length"] > 20 and r0.metrics["dim_refusal"] == 0.0
    assert set(r0.metrics) == set(names)
    bm = Scripted(lambda p, i: _terse_refusing(num(p)))
    r1 = mon.fit(r0).score(MeasureContext(1, cast(Generator, bm), task, [], seed=2))
    assert set(r1.metrics) == set(names)
    assert r1.metrics["dim_length"] < 5 and r1.metrics["dim_refusal"] == pytest.approx(0.2)
    assert r1.metrics["dimension_shifts"] >= 2 and r1.tests["dim_length"]["significant"]
    words = [t["text"] for t in r1.tables["changed"]]
    assert any(w.startswith("shorter (") for w in words)
    assert any(w.startswith("refuse the request more (20% vs 0%)") for w in words)
    assert any("B's answers are shorter" in f.message for f in r1.findings)
    rows: list[dict[str, Any]] = [{"round": 0}, {"round": 1}]
    add_result(rows[0], "diff", r0)
    add_result(rows[1], "diff", r1)
    assert "diff.changed" not in rows[0] and "shorter" in rows[1]["diff.changed"]
    table = round_table({"rounds": rows})
    assert "changed (diff)" in [str(c.header) for c in table.columns]


def test_the_diff_report_lists_every_dimension_with_its_sentence(tmp_path):
    from driftlab.report import write_report
    from driftlab.store import write_json

    doc = dimension_diff(_records(80, _long, _terse_refusing), DiffSettings())
    doc.update(
        schema="driftlab.diff/1",
        model_a="A",
        model_b="B",
        intent=None,
        n_texts={"a": 80, "b": 80},
        n_prompts=80,
        split={"label_prompts": 40, "heldout_prompts": 40},
        clustering={"k": 0, "method": "kmeans", "criterion": "none: no clusters"},
        settings={},
        timings={},
    )
    write_json(tmp_path / "findings.json", doc)
    html = write_report(tmp_path).read_text()
    assert 'id="dimensions-table"' in html and html.count('title="') >= len(DIMENSIONS.names())
    assert (
        "B&#39;s answers are shorter: median" in html or "B's answers are shorter: median" in html
    )
