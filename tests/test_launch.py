"""Training across processes: a real `accelerate launch` of 2 CPU processes (DDP over gloo).

The round loop stays in the test's process; only training runs in the workers, and only the
controller writes the run directory. Each rank logs the rows its data loader fed it.
"""

from __future__ import annotations

import pytest

from driftlab.config import TrainConfig, load_config
from driftlab.errors import ConfigError
from driftlab.experiment import run_experiment
from driftlab.models.hf import HFModel
from driftlab.store import read_json, read_jsonl
from driftlab.train import get_trainer

Q = "What is {} plus {}?"
ROWS = [
    {
        "prompt": [{"role": "user", "content": Q.format(a, a + 1)}],
        "completion": [{"role": "assistant", "content": f"The answer is {2 * a + 1}."}],
    }
    for a in range(16)
]
PAIRS = [
    {
        "prompt": r["prompt"],
        "chosen": r["completion"],
        "rejected": [{"role": "assistant", "content": "I do not know."}],
    }
    for r in ROWS[:8]
]


def per_epoch(ranks: list[list[int]], epochs: int) -> list[list[set[int]]]:
    """Each rank's rows split into its epochs (every epoch feeds a rank the same number)."""
    out = []
    for rows in ranks:
        n = len(rows) // epochs
        out.append([set(rows[e * n : (e + 1) * n]) for e in range(epochs)])
    return out


def test_sft_in_two_processes_shards_the_rows_and_writes_one_adapter(tiny_model, tmp_path):
    model = HFModel.load(str(tiny_model))
    target = [ROWS[3]["prompt"]], [ROWS[3]["completion"][0]["content"]]
    before = model.logprobs(*target)[0]
    cfg = TrainConfig(epochs=3, batch_size=2, lora_rank=8, learning_rate=5e-3, processes=2)
    res = get_trainer("sft", processes=2)(model, ROWS, cfg, tmp_path / "adapter", seed=0, desc="t")
    s = res.summary()
    assert s["processes"] == 2 and s["adapters_written"] == 1
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    # 16 rows, 2 ranks x 2 rows a step: 4 steps an epoch, each rank fed 8 rows an epoch
    assert s["steps"] == 12 and s["streamed_steps"] == 12 and len(res.losses) == 12
    assert [len(r) for r in s["rank_rows"]] == [24, 24]
    for e0, e1 in zip(*per_epoch(s["rank_rows"], 3)):
        assert not e0 & e1 and e0 | e1 == set(range(16))  # disjoint shards covering the data
    assert res.losses[-1] < res.losses[0]
    assert model.logprobs(*target)[0] > before  # the controller's model is the trained one


def test_dpo_goes_through_the_same_launcher(tiny_model, tmp_path):
    model = HFModel.load(str(tiny_model))
    cfg = TrainConfig(epochs=2, batch_size=2, lora_rank=4, learning_rate=5e-3, processes=2)
    res = get_trainer("dpo", processes=2)(
        model, PAIRS, cfg, tmp_path / "adapter", seed=0, desc="t", beta=0.1, reference="initial"
    )
    s = res.summary()
    assert s["processes"] == 2 and s["adapters_written"] == 1 and s["steps"] == 4
    for e0, e1 in zip(*per_epoch(s["rank_rows"], 2)):
        assert not e0 & e1 and e0 | e1 == set(range(8))
    assert res.losses[-1] < res.losses[0] and "last_reward_margin" in s


def test_a_round_trains_in_two_processes_and_the_controller_publishes(tiny_config, tmp_path):
    path = tiny_config(
        rounds=1,
        **{
            "train.processes": 2,
            "train.epochs": 3,
            "train.learning_rate": 5e-3,
            "train.batch_size": 2,
        },
    )
    run = run_experiment(load_config(path), tmp_path / "run")
    assert run["status"] == "completed"
    rd = tmp_path / "run" / "rounds" / "001"
    stats = read_json(rd / "adapter" / "train_stats.json")
    rows = read_jsonl(rd / "adapter" / "train_rows.jsonl")
    assert stats["processes"] == 2 and stats["adapters_written"] == 1
    assert (rd / "adapter" / "adapter_model.safetensors").is_file()
    assert stats["last_loss"] < stats["first_loss"]
    for e0, e1 in zip(*per_epoch(stats["rank_rows"], 3)):  # each epoch: two shards, all rows
        assert e0 != e1 and e0 | e1 == set(range(len(rows)))
    # nothing but the run's own layout: no worker folders, no staging left behind
    assert sorted(p.name for p in rd.iterdir()) == sorted(
        ["adapter", "lineage.json", "loop.json", "metrics.json", "proposals.jsonl", "train.jsonl"]
    )


def test_a_missing_accelerate_config_is_a_config_error(tiny_config):
    with pytest.raises(ConfigError, match="accelerate config file not found"):
        load_config(tiny_config(**{"train.accelerate_config": "nowhere.yaml"}))
