"""The supervisor behind `driftlab watch` and the TRL callback obeys `guard.decide`, as the run
engine does: one policy for promotion, halt and rollback."""

from __future__ import annotations

from driftlab.guard import decide
from driftlab.integrations.settings import WatchConfig
from driftlab.integrations.supervisor import Supervisor
from driftlab.models.hf import HFModel


def config(tiny_model, action: str) -> WatchConfig:
    sampling = {"samples": 1, "max_new_tokens": 4}
    return WatchConfig.model_validate(
        {
            "name": "sup",
            "model": {"name": str(tiny_model), "batch_size": 16},
            "task": {"name": "arithmetic", "eval_size": 2},
            "monitors": {
                "capability": sampling,
                "diversity": {**sampling, "embedding": "", "self_bleu": False},
                "reference_ppl": {"enabled": False},
                "reflectivity": {"enabled": False},
            },
            # the best round by "step", smallest first, is round 0: not the last promoted one
            "guard": {
                "rules": ["step >= 2"],
                "action": action,
                "best_metric": "step",
                "best_mode": "min",
            },
        }
    ).check()


def test_a_fired_rule_is_the_guard_decision_recorded_as_a_halt(tiny_model, tmp_path):
    model = HFModel.load(str(tiny_model), batch_size=16)
    for action in ("halt", "rollback"):
        sup = Supervisor(config(tiny_model, action), tmp_path / action, "callback")
        sup.baseline(lambda: model, step=0)
        assert sup.measure(lambda: model, step=1) == [] and sup.head == 1  # promoted
        hits = sup.measure(lambda: model, step=2)
        assert [h["rule"] for h in hits] == ["step >= 2"]
        run = sup.finish()
        expected = decide(2, hits, action, 1, lambda: 0)  # halt: at round 1; rollback: best, 0
        assert run["status"] == "halted" and run["halt"] == expected.stop(final_checkpoint=None)
        row = run["rounds"][2]
        assert {k: row[k] for k in ("promoted", "head", "guard")} == expected.promotion()
        assert row["head"] == run["halt"]["final_round"] == (1 if action == "halt" else 0)
