import math

import pytest

from driftlab.config import load_config
from driftlab.errors import ConfigError
from driftlab.experiment import run_experiment
from driftlab.loops.base import LoopTask, RoundContext
from driftlab.loops.classifiers import judge_classify, load_callable
from driftlab.loops.red_team import RedTeam, RedTeamConfig, load_seeds
from driftlab.store import read_jsonl
from driftlab.tasks import build_task
from tests.scripted import Scripted

TASK = build_task("instructions")
LOOP_TASK = LoopTask("instructions", TASK.cot_prompt, TASK.direct_prompt, TASK.extract)


def flag_insults(prompt: str, response: str) -> tuple[bool, float]:
    """A classifier by dotted path: flags replies containing "idiot"."""
    return "idiot" in response, 1.0 if "idiot" in response else 0.0


def flag_everything(prompt, response):
    return True, 1.0


def not_a_pair(prompt, response):
    return "yes"


def test_seeds_ship_and_classifier_paths_resolve(tiny_config):
    assert len(load_seeds()) >= 10
    assert load_callable("tests.test_red_team:flag_insults") is flag_insults
    for bad, msg in [
        ("nomodule_xyz:f", "cannot import"),
        ("tests.test_red_team:nope", "no function 'nope'"),
        ("justaname", "expected 'judge'"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            load_callable(bad)
    with pytest.raises(ConfigError, match="loop.classifier"):
        load_config(tiny_config(loop={"method": "red_team", "classifier": "nomodule_xyz:f"}))


def test_judge_classifier_cancels_a_yes_bias():
    # A judge that answers "Yes" 4:1 to any question: harmful-yes 0.8, safe-yes 0.8 -> score 0.5.
    biased = Scripted(None, lambda content, option: math.log(4) if option == "Yes" else 0.0)
    [v] = judge_classify(biased, [("q", "r")], threshold=0.6)
    assert v["score"] == pytest.approx(0.5) and not v["flagged"]
    assert v["raw"]["p_yes_harmful"] == pytest.approx(0.8) and v["raw"][
        "p_yes_safe"
    ] == pytest.approx(0.8)

    def sees_insults(content, option):
        bad = "idiot" in content
        says_yes = bad if "harmful" in content else not bad
        return math.log(9) if (option == "Yes") == says_yes else 0.0

    good, bad = judge_classify(
        Scripted(None, sees_insults), [("q", "hello"), ("q", "you idiot")], 0.5
    )
    assert good["score"] == pytest.approx(0.1) and not good["flagged"]
    assert bad["score"] == pytest.approx(0.9) and bad["flagged"]


def target(content, i):
    """Red model, target and reviser in one script."""
    if content.startswith("Write one message"):
        return ["Message: Call me names.", "ok"][i % 2]  # the second is too short: unusable
    if content.startswith("Here are messages"):
        return "Message 6: Tell me I'm dumb."
    if content.startswith("Look at your last reply"):
        return "It insults the user."
    if content.startswith("Write a new version"):
        return "I'd rather not insult anyone."
    return "you idiot" if ("names" in content or "dumb" in content) else "hello"


@pytest.mark.parametrize("train_on", ["sft", "dpo"])
def test_a_round_flags_revises_and_trains(train_on):
    cfg = RedTeamConfig(
        zero_shot=2, few_shot=1, classifier="tests.test_red_team:flag_insults", train_on=train_on
    )
    loop = RedTeam(cfg)
    data = loop.run_round(RoundContext(1, Scripted(target), LOOP_TASK, [], seed=0))
    tests = [p for p in data.proposals if p["kind"] == "test"]
    assert [t["prompt"] for t in tests] == ["Call me names.", "Tell me I'm dumb."]
    assert all(t["flagged"] and t["selected"] for t in tests)
    assert (
        tests[0]["revision"]["critique"] == "It insults the user."
        and tests[0]["revision_verdict"]["flagged"] is False
    )
    assert loop.trainer == train_on and len(data.train) == 2
    if train_on == "sft":
        assert data.train[0]["completion"][0]["content"] == "I'd rather not insult anyone."
    else:
        assert data.train[0]["chosen"][0]["content"] == "I'd rather not insult anyone."
        assert data.train[0]["rejected"][0]["content"] == "you idiot"
    gens = [p for p in data.proposals if p["kind"] == "test_generation"]
    assert len(gens) == 3 and gens[1]["reason"].startswith("unusable") and gens[1]["raw"] == "ok"
    s = data.stats
    assert s["flag_rate"] == 1.0 and s["tests_unusable"] == 1 and s["probes"] == 0


def test_later_rounds_reprobe_earlier_failures():
    loop = RedTeam(
        RedTeamConfig(
            zero_shot=1, few_shot=0, classifier="tests.test_red_team:flag_insults", probe_samples=2
        )
    )
    first = loop.run_round(RoundContext(1, Scripted(target), LOOP_TASK, [], seed=0))
    history = [{"round": 1, "proposals": first.proposals}]
    # Round 2's model has learned not to insult: every probe is fixed.
    fixed = loop.run_round(
        RoundContext(
            2,
            Scripted(lambda c, i: "hello" if "names" in c else target(c, i)),
            LOOP_TASK,
            [],
            seed=1,
            history=history,
        )
    )
    [probe] = [p for p in fixed.proposals if p["kind"] == "probe"]
    assert probe["case_id"] == "r1-0" and probe["found_in_round"] == 1 and probe["trained_on"]
    assert (
        probe["fixed"] and probe["responses"] == ["hello", "hello"] and len(probe["verdicts"]) == 2
    )
    assert fixed.stats["probes"] == 1 and fixed.stats["probe_fixed_rate"] == 1.0
    still = loop.run_round(
        RoundContext(2, Scripted(target), LOOP_TASK, [], seed=1, history=history)
    )
    assert (
        still.stats["probe_fixed_rate"] == 0.0
        and "0 of 1 earlier failures" in still.findings[0].message
    )


def test_a_revision_still_flagged_is_not_trained():
    def reply(content, i):
        return "still an idiot" if content.startswith("Write a new version") else target(content, i)

    loop = RedTeam(
        RedTeamConfig(zero_shot=1, few_shot=0, classifier="tests.test_red_team:flag_insults")
    )
    data = loop.run_round(RoundContext(1, Scripted(reply), LOOP_TASK, [], seed=0))
    [t] = [p for p in data.proposals if p["kind"] == "test"]
    assert t["reason"] == "revision still flagged" and data.train == []
    assert data.stats["revisions_still_flagged"] == 1


def test_a_malformed_classifier_result_is_a_clear_error():
    loop = RedTeam(
        RedTeamConfig(zero_shot=1, few_shot=0, classifier="tests.test_red_team:not_a_pair")
    )
    with pytest.raises(ConfigError, match="must return"):
        loop.run_round(RoundContext(1, Scripted(target), LOOP_TASK, [], seed=0))


def test_tiny_model_red_team(tiny_config, tiny_model, tmp_path):
    cfg = load_config(
        tiny_config(
            **{
                "task": {"name": "instructions", "train_size": 2, "eval_size": 3},
                "loop": {
                    "method": "red_team",
                    "zero_shot": 3,
                    "few_shot": 3,
                    "red_max_new_tokens": 16,
                    "max_new_tokens": 8,
                    "critique_max_new_tokens": 6,
                    "classifier": "tests.test_red_team:flag_everything",
                    "require_clean_revision": False,
                    "red_model": str(tiny_model),
                },
                "monitors": {"diversity": {"samples": 2, "max_new_tokens": 8}},
                "rounds": 2,
            }
        )
    )
    run = run_experiment(cfg, tmp_path / "run")
    rounds = run["rounds"]
    assert [r["status"] for r in rounds] == ["baseline", "trained", "trained"]
    assert rounds[2]["loop.probes"] == rounds[1]["loop.flagged"] > 0
    probes = [
        p
        for p in read_jsonl(tmp_path / "run" / "rounds" / "002" / "proposals.jsonl")
        if p["kind"] == "probe"
    ]
    firsts = [
        p
        for p in read_jsonl(tmp_path / "run" / "rounds" / "001" / "proposals.jsonl")
        if p["kind"] == "test"
    ]
    assert [p["case_id"] for p in probes] == [p["case_id"] for p in firsts]
