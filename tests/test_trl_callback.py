"""DriftlabCallback inside real TRL trainers on a tiny random-weight model."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from driftlab.integrations import trl as integration
from driftlab.integrations.settings import WatchConfig
from driftlab.integrations.trl import DriftlabCallback
from driftlab.models.hf import HFModel
from driftlab.train.common import run_args

CPU = run_args(torch.device("cpu"), seed=7)  # what driftlab's own trainers run with


def watch_config(tiny_model, rules=(), action="halt") -> WatchConfig:
    return WatchConfig.model_validate(
        {
            "name": "cb",
            "model": {"name": str(tiny_model), "batch_size": 16},
            "task": {"name": "arithmetic", "eval_size": 3},
            "monitors": {
                "capability": {"samples": 1, "max_new_tokens": 6},
                "diversity": {
                    "samples": 2,
                    "max_new_tokens": 6,
                    "embedding": "",
                    "self_bleu": False,
                },
                "reference_ppl": {"enabled": False},
                "reflectivity": {"enabled": False},
            },
            "guard": {
                "rules": list(rules),
                "action": action,
                "best_metric": "diversity.length_mean",
            },
        }
    ).check()


def length_reward(completions, **kw):
    return [float(len(c[0]["content"] if isinstance(c, list) else c)) for c in completions]


def grpo(tiny_model, out, callbacks, max_steps=6, save_steps=None):
    from trl import GRPOConfig, GRPOTrainer

    data = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}]} for i in range(12)]
    )
    args = GRPOConfig(
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        learning_rate=1e-3,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        **CPU,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=length_reward,
        args=args,
        train_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
        callbacks=callbacks,
    )
    trainer.train()
    return trainer


def test_grpo_stops_at_the_step_the_planted_tripwire_fires(tiny_model, tmp_path):
    cfg = watch_config(tiny_model, rules=["step >= 4"], action="rollback")
    cb = DriftlabCallback(cfg, out=tmp_path / "run", every_steps=2)
    trainer = grpo(tiny_model, tmp_path / "ckpt", [cb], max_steps=8, save_steps=2)
    assert trainer.state.global_step == 4 and cb.stopped_at == 4  # not 8: stopped where it fired
    assert [h["rule"] for h in cb.fired] == ["step >= 4"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "halted" and run["method"] == "callback"
    assert [r["step"] for r in run["rounds"]] == [0, 2, 4]
    assert run["rounds"][2]["promoted"] is False and run["halt"]["round"] == 2
    # the monitors really measured the policy, and the trainer's reward is recorded beside them
    assert all("capability.accuracy" in r and "diversity.length_mean" in r for r in run["rounds"])
    assert "train.reward" in run["rounds"][1]
    # rollback names the best earlier round's checkpoint (round 0 has none: it is the start)
    best = run["halt"]["final_round"]
    assert cb.best_round == best
    # the guard's decision, as the run engine records a rollback: the round points at the best
    assert run["halt"]["action"] == "rollback" and run["rounds"][2]["head"] == best
    assert run["rounds"][2]["guard"] == [run["halt"]["message"]]
    assert cb.best_checkpoint == (str(tmp_path / "ckpt" / "checkpoint-2") if best == 1 else None)
    assert (tmp_path / "run" / "report.html").exists()


def _params(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}


def test_measuring_does_not_change_training(tiny_model, tmp_path, monkeypatch):
    """GRPO samples with torch's generator every step: measuring in between must not move it.

    The monitors sample through `generate` here (the old decode path, which seeds torch's
    global generator), so the check has something to catch: driftlab's own decode loop draws
    from per-sequence generators and leaves the global one alone."""
    monkeypatch.setattr(HFModel, "decoder", "generate")
    plain = _params(grpo(tiny_model, tmp_path / "a", [], max_steps=3))
    cb = DriftlabCallback(watch_config(tiny_model), out=tmp_path / "run", every_steps=1)
    watched = _params(grpo(tiny_model, tmp_path / "b", [cb], max_steps=3))
    assert len(json.loads((tmp_path / "run" / "run.json").read_text())["rounds"]) == 4
    assert all(torch.equal(plain[n], watched[n]) for n in plain)
    # the check can fail: without restoring the generators, the same run trains differently
    monkeypatch.setattr(integration, "preserved_rng", nullcontext)
    cb = DriftlabCallback(watch_config(tiny_model), out=tmp_path / "run2", every_steps=1)
    moved = _params(grpo(tiny_model, tmp_path / "c", [cb], max_steps=3))
    assert not all(torch.equal(plain[n], moved[n]) for n in plain)


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_sft_and_dpo_trainers_are_measured_at_each_save(tiny_model, tmp_path, kind):
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    prompt = [{"role": "user", "content": "What is 2 plus 3?"}]
    cls: Any  # SFTTrainer or DPOTrainer
    args_cls: Any
    if kind == "sft":
        rows = [
            {"prompt": prompt, "completion": [{"role": "assistant", "content": "The answer is 5."}]}
        ] * 8
        cls, args_cls = SFTTrainer, SFTConfig
    else:
        rows = [
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": "The answer is 5."}],
                "rejected": [{"role": "assistant", "content": "The answer is 7."}],
            }
        ] * 8
        cls, args_cls = DPOTrainer, DPOConfig
    args = args_cls(
        output_dir=str(tmp_path / "ckpt"),
        max_steps=2,
        per_device_train_batch_size=4,
        save_strategy="steps",
        save_steps=1,
        max_length=64,
        **CPU,
    )
    cb = DriftlabCallback(
        watch_config(tiny_model, rules=["capability.no_answer_rate > 2"]), out=tmp_path / "run"
    )  # every_steps=None: at each save
    trainer = cls(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
        callbacks=[cb],
    )
    trainer.train()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "completed" and not cb.fired
    assert [(r["step"], r.get("checkpoint")) for r in run["rounds"]] == [
        (0, None),
        (1, "checkpoint-1"),
        (2, "checkpoint-2"),
    ]
    assert trainer.state.global_step == 2


def test_a_stop_marker_written_during_training_stops_it(tiny_model, tmp_path):
    """config=None: the callback only obeys a `driftlab watch` process's stop marker."""
    from transformers import TrainerCallback

    marker = tmp_path / "ckpt" / "driftlab-stop.json"

    class WatchWritesAtStep2(TrainerCallback):  # stands for the watch process writing the file
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:
                marker.write_text(
                    json.dumps(
                        {
                            "hits": [{"rule": "x > 1"}],
                            "final_round": 0,
                            "message": "rule 'x > 1' fired",
                        }
                    )
                )

    cb = DriftlabCallback(None)
    trainer = grpo(tiny_model, tmp_path / "ckpt", [WatchWritesAtStep2(), cb], max_steps=6)
    assert trainer.state.global_step == 2 and cb.stopped_at == 2 and cb.fired == [{"rule": "x > 1"}]


def test_measuring_at_saves_needs_a_trainer_that_saves(tiny_model, tmp_path):
    cb = DriftlabCallback(watch_config(tiny_model), out=tmp_path / "run")  # every_steps=None
    with pytest.raises(ValueError, match="save_strategy 'no'"):
        grpo(tiny_model, tmp_path / "ckpt", [cb], max_steps=2)  # saves nothing
    assert not (tmp_path / "run").exists()
