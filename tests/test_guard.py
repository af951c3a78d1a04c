import pytest
from pydantic import ValidationError

from driftlab.config import load_config
from driftlab.errors import ConfigError
from driftlab.experiment import run_experiment
from driftlab.guard import GuardConfig, Rule, decide
from driftlab.store import read_json

BASE = {"capability.accuracy": 0.5, "diversity.distinct_2": 0.8}
PREV = {"capability.accuracy": 0.6, "diversity.distinct_2": 0.9}


@pytest.mark.parametrize(
    "text,current,fires,threshold",
    [
        ("capability.accuracy < baseline - 0.05", 0.44, True, 0.45),
        ("capability.accuracy < baseline - 0.05", 0.46, False, 0.45),
        ("diversity.distinct_2 < 0.7 * baseline", 0.55, True, 0.56),
        ("diversity.distinct_2 < baseline * 0.7", 0.57, False, 0.56),
        ("capability.accuracy <= previous", 0.6, True, 0.6),
        ("capability.accuracy > 0.9", 0.95, True, 0.9),
        ("capability.accuracy >= 1e-1", 0.05, False, 0.1),
    ],
)
def test_rules_read_like_what_they_compare(text, current, fires, threshold):
    metric = text.split()[0]
    rule = Rule.parse(text)
    assert rule.threshold(BASE, PREV) == pytest.approx(threshold)
    assert (rule.check({metric: current}, BASE, PREV) is not None) is fires


def test_a_missing_or_nan_metric_never_fires():
    rule = Rule.parse("capability.accuracy < baseline - 0.05")
    assert rule.check({}, BASE, PREV) is None
    assert rule.check({"capability.accuracy": float("nan")}, BASE, PREV) is None
    assert rule.check({"capability.accuracy": 0.1}, {}, PREV) is None


@pytest.mark.parametrize(
    "bad", ["accuracy", "capability.accuracy << 3", "x < yesterday - 1", "x < baseline -"]
)
def test_unreadable_rules_are_config_errors(bad, tmp_path):
    with pytest.raises(ValidationError, match="cannot read rule"):
        GuardConfig(rules=[bad])
    p = tmp_path / "c.toml"
    p.write_text(f"[guard]\nrules = [{bad!r}]\n".replace("'", '"'))
    with pytest.raises(ConfigError, match="guard.rules: cannot read rule"):
        load_config(p)


def test_a_rule_on_a_metric_nobody_reports_is_a_config_error_naming_the_nearest(tiny_config):
    with pytest.raises(
        ConfigError,
        match=r"guard\.rules: unknown metric capability\.acuracy; "
        r"did you mean capability\.accuracy\?",
    ):
        load_config(tiny_config(**{"guard.rules": ["capability.acuracy < baseline - 0.05"]}))
    off = {"monitors.reference_ppl": {"enabled": False}}
    with pytest.raises(ConfigError, match="no enabled monitor is called 'reference_ppl'"):
        load_config(tiny_config(**off, **{"guard.rules": ["reference_ppl.ppl > 2"]}))
    with pytest.raises(ConfigError, match="guard.best_metric: unknown metric capability.acc"):
        load_config(
            tiny_config(**{"guard.action": "rollback", "guard.best_metric": "capability.acc"})
        )
    # Data-named metrics (a probe subtask), the loop's stats and the run's own columns are known.
    rules = [
        "reflectivity.shift.politics > 0.2",
        "loop.train_rows < 1",
        "train.last_loss > 5",
        "diversity.distinct_3 < 0.5 * baseline",
    ]
    assert load_config(tiny_config(**{"guard.rules": rules})).guard.rules == rules
    with pytest.raises(ConfigError, match="unknown metric diversity.distinct_4"):  # max_n is 3
        load_config(tiny_config(**{"guard.rules": ["diversity.distinct_4 < 0.5"]}))


def test_a_tripwire_halts_the_run_and_the_round_is_not_promoted(tiny_config, tmp_path):
    # A tiny random model's perplexity moves after any training: make that the tripwire.
    cfg = load_config(tiny_config(rounds=3, **{"guard.rules": ["reference_ppl.ppl > 0"]}))
    run = run_experiment(cfg, tmp_path / "r")
    assert run["status"] == "halted"
    assert [r["round"] for r in run["rounds"]] == [0, 1]  # round 2 never ran
    r1 = run["rounds"][1]
    assert r1["promoted"] is False and r1["head"] == 0
    assert run["halt"]["round"] == 1 and run["halt"]["final_round"] == 0
    assert run["halt"]["hits"][0]["rule"] == "reference_ppl.ppl > 0"
    assert "rule 'reference_ppl.ppl > 0' fired at round 1" in run["halt"]["message"]
    # Resuming a halted run does nothing more.
    again = run_experiment(None, tmp_path / "r", resume=True)
    assert again["status"] == "halted" and len(again["rounds"]) == 2


def test_rollback_restores_the_best_round_and_goes_on(tiny_config, tmp_path, monkeypatch):
    """Perplexity scripted per round (10, 9, 12, 8): round 2 trips the rule, the run rolls
    back to round 1 (the best so far), and round 3 is trained on top of round 1, not 2."""
    from driftlab.monitors.reference_ppl import ReferencePPL

    scripted = {0: 10.0, 1: 9.0, 2: 12.0, 3: 8.0}
    real_score = ReferencePPL.score

    def score(self, ctx):
        res = real_score(self, ctx)
        res.metrics["ppl"] = scripted[ctx.round]
        return res

    monkeypatch.setattr(ReferencePPL, "score", score)
    cfg = load_config(
        tiny_config(
            rounds=3,
            **{
                "guard.rules": ["reference_ppl.ppl > previous"],
                "guard.action": "rollback",
                "guard.best_metric": "reference_ppl.ppl",
                "guard.best_mode": "min",
            },
        )
    )
    run = run_experiment(cfg, tmp_path / "r")
    assert run["status"] == "completed"
    rows = {r["round"]: r for r in run["rounds"]}
    assert [rows[k]["promoted"] for k in (1, 2, 3)] == [True, False, True]
    assert [rows[k]["parent"] for k in (1, 2, 3)] == [0, 1, 1]
    assert rows[2]["head"] == 1 and rows[3]["head"] == 3
    assert run["rollbacks"] == [{**run["rollbacks"][0], "round": 2, "restored_round": 1}]
    lineage = read_json(tmp_path / "r" / "rounds" / "003" / "lineage.json")
    assert lineage == {
        "parent": 1,
        "adapters": ["rounds/001/adapter", "rounds/003/adapter"],
        "train_from": "round 1",
        "mitigations": {},
    }


def test_the_guard_decides_and_says_why():
    hit = Rule.parse("capability.accuracy < baseline - 0.05").check(
        {"capability.accuracy": 0.3}, BASE, PREV
    )
    assert hit is not None
    hit["round"] = 3
    best_asked = []

    def best():
        best_asked.append(True)
        return 1

    promoted = decide(3, [], "halt", 2, best)
    assert (promoted.action, promoted.head) == ("continue", 3)
    assert promoted.promotion() == {"promoted": True, "head": 3} and promoted.run_fields([]) == {}
    halt = decide(3, [hit], "halt", 2, best)
    assert (halt.action, halt.head) == ("halt", 2) and not best_asked  # halting keeps round 2
    assert "capability.accuracy = 0.3, threshold 0.45" in halt.reason
    assert halt.promotion() == {"promoted": False, "head": 2, "guard": [halt.reason]}
    assert halt.run_fields([])["halt"] == {
        "round": 3,
        "action": "halt",
        "hits": [hit],
        "final_round": 2,
        "message": halt.reason,
    }
    back = decide(3, [hit], "rollback", 2, best)
    assert (back.action, back.head) == ("rollback", 1) and best_asked
    earlier = {"round": 2, "hits": [], "restored_round": 0, "message": "m"}
    events = back.run_fields([earlier])["rollbacks"]
    assert events[0] == earlier and (events[1]["round"], events[1]["restored_round"]) == (3, 1)
