import math

import pytest

from driftlab.config import load_config
from driftlab.errors import ConfigError, DriftlabError
from driftlab.experiment import run_experiment
from driftlab.loops.base import LoopTask, RoundContext
from driftlab.loops.constitutional import (
    Constitutional,
    ConstitutionalConfig,
    clean_revision,
    preference,
)
from driftlab.loops.principles import load_constitution
from driftlab.models.judging import Verdict, normalise
from driftlab.store import read_jsonl
from driftlab.tasks import build_task
from driftlab.tasks.base import Question
from tests.scripted import Scripted

TASK = build_task("instructions")
LOOP_TASK = LoopTask("instructions", TASK.cot_prompt, TASK.direct_prompt, TASK.extract)
GOOD = '[[principles]]\nname = "kind"\ncritique = "Is it unkind?"\nrevision = "Make it kind."\n'


def test_shipped_constitution_loads():
    c = load_constitution()
    assert len(c.principles) >= 5 and all(
        p.critique and p.revision and p.comparison for p in c.principles
    )


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("c.toml", "[[principles]\nname=", "not valid TOML"),
        ("c.toml", 'name = "x"\n', "no [[principles]] tables"),
        ("c.toml", "principles = []\n", "the principle list is empty"),
        ("c.toml", "principles = 3\n", "must be a list"),
        ("c.toml", '[[principles]]\ncritique = "Is it bad?"\n', "principle 1: missing 'revision'"),
        (
            "c.toml",
            GOOD + '[[principles]]\ncritique = "x"\nrevision = ""\n',
            "principle 2: 'revision' must be a non-empty",
        ),
        (
            "c.toml",
            '[[principles]]\ncritique = "a"\nrevision = "b"\ncritic = "c"\n',
            "unknown key 'critic'",
        ),
        ("c.toml", GOOD + GOOD, "principle name 'kind' used more than once"),
        (
            "c.jsonl",
            '{"critique": "a", "revision": "b"}\n{"critique": "a"\n',
            "line 2: not valid JSON",
        ),
        ("c.jsonl", "\n\n", "the principle list is empty"),
        ("c.yaml", "principles: []", "unknown format '.yaml'"),
    ],
)
def test_constitution_errors_name_the_file_and_problem(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DriftlabError) as e:
        load_constitution(path)
    assert str(path) in str(e.value) and problem in str(e.value)


def test_missing_constitution_and_jsonl_form(tmp_path):
    with pytest.raises(DriftlabError, match="does not exist"):
        load_constitution(tmp_path / "nope.toml")
    path = tmp_path / "mine.jsonl"
    path.write_text('{"critique": "Is it rude?", "revision": "Fix it."}\n')
    [p] = load_constitution(path).principles
    assert p.name == "principle-1" and "Is it rude?" in p.choice_question()


def test_a_bad_constitution_fails_at_config_load(tiny_config, tmp_path):
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match="loop.constitution.*none.toml does not exist"):
        load_config(tiny_config(loop={"method": "constitutional", "constitution": str(missing)}))


def test_preference_probability_math():
    assert normalise(0.0, 0.0) == 0.5
    assert normalise(math.log(3), 0.0) == pytest.approx(0.75)
    assert normalise(-1e6, 0.0) == 0.0 and normalise(0.0, -1e6) == 1.0  # no overflow
    # A judge that likes the first reply 3:1 in both orders: no position bias, agreement.
    p = preference(Verdict((math.log(3), 0.0), (0.0, math.log(3))))
    assert (
        p["p_first"] == pytest.approx(0.75)
        and p["p_a"] == pytest.approx(0.5)
        and p["orders_agree"] == 1.0
    )
    # A judge that always says (A), whatever it is shown: pure position bias cancels to 0.5.
    p = preference(Verdict((math.log(4), 0.0), (math.log(4), 0.0)))
    assert (
        p["p_first"] == pytest.approx(0.5)
        and p["p_a"] == pytest.approx(0.8)
        and p["orders_agree"] == 0.0
    )
    # Content preference 3:1 for the first, on top of a 2:1 lean to (A).
    p = preference(Verdict((math.log(6), 0.0), (math.log(2 / 3), 0.0)))
    assert p["p_first_ab"] == pytest.approx(6 / 7) and p["p_first_ba"] == pytest.approx(0.6)
    assert p["p_first"] == pytest.approx((6 / 7 + 0.6) / 2)


def test_clean_revision():
    assert clean_revision("Here is a revised version of my reply:\nBe kind.") == "Be kind."
    assert clean_revision('"Be kind."') == "Be kind."
    assert clean_revision("Be kind.") == "Be kind."
    assert clean_revision("**Revised response:** Be kind.") == "Be kind."


def sl_reply(content, i):
    if content.startswith("Write a new version"):
        return "Revised response: a kind answer"
    if content.startswith("Look at your last reply"):
        return "It was rude."
    return "a rude answer"


def test_sl_round_critiques_revises_and_keeps_raw_text():
    loop = Constitutional(ConstitutionalConfig(mode="sl", revision_passes=2))
    model = Scripted(sl_reply)
    data = loop.run_round(
        RoundContext(1, model, LOOP_TASK, [Question("a", "Say hi"), Question("b", "Go")], seed=0)
    )
    assert loop.trainer == "sft" and len(data.train) == 2
    assert data.train[0]["completion"][0]["content"] == "a kind answer"
    p = data.proposals[0]
    assert len(p["passes"]) == 2 and p["passes"][0]["critique"] == "It was rude."
    assert (
        p["passes"][0]["revision_raw"] == "Revised response: a kind answer"
        and p["final"] == "a kind answer"
    )
    assert p["passes"][0]["principle"] in {x.name for x in loop.constitution.principles}
    assert data.stats["critiques"] == 4 and data.stats["revision_changed_rate"] == 1.0
    assert sum("critiques, pass" in c for c in model.calls) == 2  # batched: one call per pass


def rl_logprob(content, option):
    """The judge prefers the reply containing "polite" by 3:1, and leans to (A) by 2:1."""
    a_part = content.split("(A) ")[1].split("(B) ")[0]
    a_polite = "polite" in a_part
    lp = math.log(3) if (option == "(A)") == a_polite else 0.0
    return lp + (math.log(2) if option == "(A)" else 0.0)


def test_rl_round_prefers_by_logprobs_in_both_orders():
    def reply(content, i):
        if "same" in content:
            return "identical"
        return ["rude reply", "polite reply"][i]

    loop = Constitutional(ConstitutionalConfig(mode="rl"))
    data = loop.run_round(
        RoundContext(
            1,
            Scripted(reply, rl_logprob),
            LOOP_TASK,
            [Question("a", "Say hi"), Question("b", "say the same")],
            seed=0,
        )
    )
    assert loop.trainer == "dpo"
    [row] = data.train
    assert (
        row["chosen"][0]["content"] == "polite reply"
        and row["rejected"][0]["content"] == "rude reply"
    )
    fb = data.proposals[0]["feedback"]
    # first reply ("rude") as (A): A gets 2, B gets 3 -> P(first) = 2/5; as (B): A 6, B 1 -> 1/7
    assert fb["p_first_ab"] == pytest.approx(2 / 5) and fb["p_first_ba"] == pytest.approx(1 / 7)
    assert len(fb["logp_ab"]) == 2 and fb["principle"] in {
        p.name for p in loop.constitution.principles
    }
    assert data.proposals[1]["reason"] == "identical replies"
    assert data.stats["pairs_dropped_identical"] == 1 and data.stats["position_bias"] > 0


def test_rl_min_preference_drops_uncertain_pairs():
    loop = Constitutional(ConstitutionalConfig(mode="rl", min_preference=0.4))
    data = loop.run_round(
        RoundContext(
            1,
            Scripted(lambda c, i: ["x", "y"][i], lambda c, o: 0.0),
            LOOP_TASK,
            [Question("a", "hi")],
            seed=0,
        )
    )
    assert data.train == [] and data.stats["pairs_dropped_uncertain"] == 1
    assert "nothing to train on" in data.findings[-1].message


@pytest.mark.parametrize("mode", ["sl", "rl"])
def test_tiny_model_runs_constitutional(mode, tiny_config, tmp_path):
    cfg = load_config(
        tiny_config(
            **{
                "task": {"name": "instructions", "train_size": 3, "eval_size": 3},
                "loop": {
                    "method": "constitutional",
                    "mode": mode,
                    "max_new_tokens": 8,
                    "critique_max_new_tokens": 6,
                    "drop_truncated": False,
                },
                "monitors": {"diversity": {"samples": 2, "max_new_tokens": 8}},
                "rounds": 1,
            }
        )
    )
    run = run_experiment(cfg, tmp_path / "run")
    r1 = run["rounds"][1]
    assert r1["status"] == "trained" and r1["train.steps"] >= 1
    rows = read_jsonl(tmp_path / "run" / "rounds" / "001" / "proposals.jsonl")
    if mode == "sl":
        assert all(p["passes"][0]["critique_request"] for p in rows)
    else:
        assert all("logp_ab" in p["feedback"] for p in rows if p["selected"])


def test_a_revision_that_parrots_the_critique_is_not_trained():
    def reply(content, i):
        return (
            "It was rude."
            if content.startswith(("Look at your last reply", "Write a new version"))
            else "rude"
        )

    loop = Constitutional(ConstitutionalConfig(mode="sl"))
    data = loop.run_round(
        RoundContext(1, Scripted(reply), LOOP_TASK, [Question("a", "Say hi")], seed=0)
    )
    assert data.train == [] and data.proposals[0]["reason"] == "revision repeats the critique"
    assert data.stats["parroted_revisions"] == 1
