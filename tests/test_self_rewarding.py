import pytest

from driftlab.config import load_config
from driftlab.errors import ConfigError
from driftlab.experiment import run_experiment
from driftlab.loops import self_rewarding
from driftlab.loops.base import LoopTask, RoundContext
from driftlab.loops.self_rewarding import SelfRewarding, SelfRewardingConfig, build_pair
from driftlab.models.judge_prompts import JUDGE_PROMPTS, fill, resolve_template
from driftlab.models.scores import parse_score, score_histogram
from driftlab.store import read_jsonl
from driftlab.tasks import build_task
from driftlab.tasks.base import Question
from tests.scripted import Scripted

TASK = build_task("instructions")
LOOP_TASK = LoopTask("instructions", TASK.cot_prompt, TASK.direct_prompt, TASK.extract)


@pytest.mark.parametrize(
    ("text", "value", "error"),
    [
        ("Score: 4", 4.0, None),
        ("The reply is relevant and clear.\nScore: 3", 3.0, None),
        ("**Score:** 5", 5.0, None),
        ("4/5", 4.0, None),
        ("I would give it a 4 out of 5.", 4.0, None),
        ("It deserves a score of 3.5 overall.", 3.5, None),
        ("Total score = 2", 2.0, None),
        ("Score: 8/10", 4.0, None),  # another scale is rescaled
        (
            "Add 1 point if relevant. Add another point if... Score: 2",
            2.0,
            None,
        ),  # the label, not the rubric
        ("Score: 1. Later I changed my mind. Score: 4", 4.0, None),  # the last label concludes
        ("3", 3.0, None),
        ("Score: 7", None, "out_of_range"),
        ("score: -1", None, "out_of_range"),
        ("Score: 3/0", None, "out_of_range"),
        ("Score: <total points>", None, "no_score"),
        (
            "The reply has 2 paragraphs and 3 ideas.",
            None,
            "no_score",
        ),  # bare numbers in prose are not scores
        ("asdf ### !!", None, "no_score"),
        ("", None, "no_score"),
        (None, None, "no_score"),
        ("9" * 5000, None, "out_of_range"),
    ],
)
def test_parse_score(text, value, error):
    parsed = parse_score(text)
    assert (parsed.value, parsed.error) == (value, error)


def test_parse_score_never_raises_on_random_text():
    import random

    rng = random.Random(0)
    alphabet = "Score:/ of 0123456789.-*\n out of points abc\u00e9\U0001f600"
    for _ in range(2000):
        p = parse_score("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))))
        assert p.value is None or 0 <= p.value <= 5
        assert (p.value is None) == (p.error is not None)


def test_build_pair_ties_margins_and_unscored():
    assert build_pair([3.0, 5.0, 1.0, 4.0]) == (1, 2, "kept")
    assert build_pair([2.0, 2.0, 2.0]) == (None, None, "tie")
    assert build_pair([2.0, None, None]) == (None, None, "fewer than 2 scored candidates")
    assert build_pair([None, 2.0, 3.0, None]) == (2, 1, "kept")  # unscored candidates take no part
    assert build_pair([3.0, 2.5], min_margin=1.0) == (None, None, "margin 0.50 < 1.0")
    assert build_pair([3.0, 2.0], min_margin=1.0) == (
        0,
        1,
        "kept",
    )  # a margin equal to the threshold is kept
    assert build_pair([5.0, 1.0, 5.0, 1.0]) == (
        0,
        3,
        "kept",
    )  # first best, last worst: deterministic


def test_score_histogram():
    h = score_histogram([0.0, 1.0, 3.5, 4.4, 5.0])
    assert [h[f"judge_hist_{b}"] for b in range(6)] == [1, 1, 0, 0, 2, 1]


def test_judge_templates_are_registered_and_overridable():
    assert {"additive-5pt", "additive-5pt-brief"} <= set(JUDGE_PROMPTS.names())
    own = "Grade {response} for {prompt} from 0 to 5. Score:"
    assert resolve_template(own) == own
    assert fill(own, prompt="a {x} b", response="r") == "Grade r for a {x} b from 0 to 5. Score:"
    with pytest.raises(ConfigError, match="neither a registered template"):
        resolve_template("no-such-template")


def test_bad_judge_prompt_is_a_config_error(tiny_config):
    with pytest.raises(ConfigError, match="loop.judge_prompt"):
        load_config(tiny_config(loop={"method": "self_rewarding", "judge_prompt": "nope"}))


def judge_reply(content: str, i: int) -> str:
    """Candidates: "good"/"bad"/"meh"; the judge scores them 5/1, and answers garbage for "meh"."""
    if content.startswith("Rate the assistant's reply"):
        reply = content.split("<reply>")[1].split("</reply>")[0]
        return {"good": "Relevant. Score: 5", "bad": f"Score: {1 + i % 2}/5"}.get(reply, "no idea")
    if "tie" in content:
        return "same"
    return ["good", "bad", "meh"][i]


def test_a_round_pairs_best_and_worst_and_records_every_judgement():
    loop = SelfRewarding(SelfRewardingConfig(candidates=3, judge_samples=2))
    qs = [Question("a", "Say something"), Question("b", "Say a tie")]
    data = loop.run_round(RoundContext(1, Scripted(judge_reply), LOOP_TASK, qs, seed=0))
    [row] = data.train
    assert row["chosen"][0]["content"] == "good" and row["rejected"][0]["content"] == "bad"
    assert row["score_chosen"] == 5.0 and row["score_rejected"] == 1.5  # mean of 1/5 and 2/5
    cands = {(p["question_id"], p["text"]): p for p in data.proposals}
    assert (
        cands["a", "meh"]["mean_score"] is None
        and cands["a", "meh"]["judgements"][0]["raw"] == "no idea"
    )
    assert cands["a", "meh"]["judgements"][0]["error"] == "no_score"
    assert cands["a", "bad"]["judgements"][1] == {
        "raw": "Score: 2/5",
        "score": 2.0,
        "error": None,
        "matched": "Score: 2/5",
    }
    assert (
        cands["a", "good"]["role"] == "chosen"
        and cands["b", "same"]["reason"] == "fewer than 2 scored candidates"
    )
    s = data.stats
    assert s["judgements"] == 12 and s["parse_failures_no_score"] == 8  # "meh" x2 and all of b's x6
    assert s["parse_failure_rate"] == pytest.approx(8 / 12)
    assert (
        s["pairs_kept"] == 1 and s["pairs_dropped_unscored"] == 1 and s["questions_selected"] == 1
    )
    assert s["judge_score_mean"] == pytest.approx((5 + 5 + 1 + 2) / 4)
    assert s["judge_hist_5"] == 2 and s["judge_hist_1"] == 1 and s["judge_hist_2"] == 1
    assert any("judgements gave no usable score" in f.message for f in data.findings)
    assert loop.trainer == "dpo" and loop.train_context == {"reference": "current", "beta": 0.1}


def test_self_generated_prompts_are_recorded_raw():
    def reply(content, i):
        if content.startswith("Here are some tasks"):
            return "Task 9: Describe a sunset in three words."
        return judge_reply(content, i)

    loop = SelfRewarding(
        SelfRewardingConfig(candidates=3, judge_samples=1, generated_prompts=2, fewshot=2)
    )
    data = loop.run_round(
        RoundContext(1, Scripted(reply), LOOP_TASK, [Question("a", "Say something")], seed=0)
    )
    gen = [p for p in data.proposals if p["kind"] == "prompt_generation"]
    assert [g["reason"] for g in gen] == ["kept", "duplicate"]
    assert (
        gen[0]["raw"].startswith("Task 9:")
        and gen[0]["prompt"] == "Describe a sunset in three words."
    )
    assert data.stats["questions"] == 2


def test_tiny_model_runs_self_rewarding_with_dpo(tiny_config, tmp_path, monkeypatch):
    # A random-weight judge never writes a score; stand in a deterministic one so pairs form.
    monkeypatch.setattr(
        self_rewarding, "parse_score", lambda text: parse_score(f"Score: {len(text) % 6}")
    )
    cfg = load_config(
        tiny_config(
            **{
                "task": {"name": "instructions", "train_size": 3, "eval_size": 3},
                "loop": {
                    "method": "self_rewarding",
                    "candidates": 3,
                    "max_new_tokens": 8,
                    "judge_samples": 2,
                    "judge_max_new_tokens": 6,
                    "reference": "initial",
                },
                "monitors": {"diversity": {"samples": 2, "max_new_tokens": 8}},
                "rounds": 1,
            }
        )
    )
    run = run_experiment(cfg, tmp_path / "run")
    r1 = run["rounds"][1]
    assert r1["status"] == "trained" and r1["loop.pairs_kept"] >= 1 and r1["train.steps"] >= 1
    assert run["rounds"][0]["capability.evaluated"] == 0.0  # no ground truth: accuracy stands down
    rows = read_jsonl(tmp_path / "run" / "rounds" / "001" / "proposals.jsonl")
    assert all({"raw", "score", "error"} <= j.keys() for p in rows for j in p["judgements"])
    assert (tmp_path / "run" / "rounds" / "001" / "adapter" / "adapter_model.safetensors").exists()


def test_expected_mode_reads_the_score_distribution():
    import math

    from driftlab.models.scores import expected_scores

    # The judge puts 3:1 odds on "Score: 4" over "Score: 2" and (almost) nothing elsewhere.
    weights = {"Score: 4": 3.0, "Score: 2": 1.0}
    model = Scripted(None, lambda content, option: math.log(weights.get(option, 1e-12)))
    [j] = expected_scores(model, [[{"role": "user", "content": "judge this"}]])
    assert j["score"] == pytest.approx(3.5) and j["error"] is None
    assert set(j["raw"]) == {f"Score: {v}" for v in range(6)}

    def prefers_good(content, option):
        good = "<reply>good</reply>" in content
        return 0.0 if option == ("Score: 5" if good else "Score: 1") else -5.0

    def reply(content, i):
        return ["good", "bad", "meh"][i]

    loop = SelfRewarding(SelfRewardingConfig(candidates=3, judge_mode="expected"))
    data = loop.run_round(
        RoundContext(1, Scripted(reply, prefers_good), LOOP_TASK, [Question("a", "Hi")], seed=0)
    )
    [row] = data.train
    assert row["chosen"][0]["content"] == "good" and data.stats["parse_failure_rate"] == 0.0
    assert data.stats["judgements"] == 3


def test_length_bias_finding_ignores_pairs_of_equal_length():
    loop = SelfRewarding(SelfRewardingConfig())
    stats = {"parse_failure_rate": 0.0, "pairs_kept": 5}
    assert loop._findings(stats, {"chosen": [96] * 5, "rejected": [96] * 5}) == []
    [f] = loop._findings(stats, {"chosen": [90, 80, 70, 60, 96], "rejected": [10, 20, 30, 40, 96]})
    assert "longer reply in 100% of pairs" in f.message
