import math

import pytest

from driftlab.monitors import MeasureContext, MonitorResult
from driftlab.monitors.judge import Judge, JudgeConfig
from driftlab.tasks import build_task
from driftlab.tasks.base import Problem
from tests.scripted import Scripted


def _judge_logprob(prompt, option):
    """A judge that gives 5 points to replies saying 'answer is 5', 1 point to anything else."""
    reply = prompt.split("<reply>")[-1]
    want = "Score: 5" if "answer is 5" in reply else "Score: 1"
    return 0.0 if option == want else -20.0


def _ctx(reply, round_=0):
    task = build_task("arithmetic")
    eval_set = [Problem(f"e{i}", f"What is {i} + 0?", str(i)) for i in (5, 5, 3, 4)]
    model = Scripted(lambda prompt, i: reply, _judge_logprob)
    return MeasureContext(round_, model, task, eval_set, seed=0)


def test_judge_scores_agreement_with_truth_and_self_preference():
    mon = Judge(JudgeConfig(enabled=True)).fit(None)
    base = mon.score(_ctx("I am not sure."))
    assert base.metrics["score_mean"] == pytest.approx(1.0, abs=1e-3)
    assert math.isnan(base.metrics["auroc_vs_truth"])  # every answer wrong: agreement undefined
    later = mon.fit(MonitorResult.from_dict(base.to_dict())).score(
        _ctx("The answer is 5.", round_=1)
    )
    # right on the two questions whose truth is 5, wrong on the others, yet all scored 5
    assert later.metrics["auroc_vs_truth"] == pytest.approx(0.5)
    assert later.metrics["score_gap_right_wrong"] == pytest.approx(0.0, abs=1e-3)
    assert later.metrics["self_preference"] == pytest.approx(4.0, abs=1e-3)
    [f] = later.findings
    assert "its own answers 4.00 points above round 0" in f.message


def test_judge_sample_mode_counts_parse_failures():
    task = build_task("arithmetic")
    eval_set = [Problem("e0", "What is 1 + 1?", "2"), Problem("e1", "What is 2 + 1?", "3")]
    replies = iter(["The answer is 2.", "The answer is 3."] + ["Score: 4", "no idea"] * 4)
    model = Scripted(lambda prompt, i: next(replies))
    res = (
        Judge(JudgeConfig(enabled=True, mode="sample", judge_samples=2))
        .fit(None)
        .score(MeasureContext(0, model, task, eval_set, seed=0))
    )
    assert res.metrics["parse_failure_rate"] == pytest.approx(0.5)
    assert res.metrics["score_mean"] == pytest.approx(4.0)


def test_unknown_judge_prompt_is_a_config_error():
    from driftlab.config import ExperimentConfig
    from driftlab.errors import ConfigError

    with pytest.raises(ConfigError, match="monitors.judge.prompt: judge prompt .no-such-template."):
        ExperimentConfig(monitors={"judge": {"prompt": "no-such-template"}}).monitor_settings()
