import pytest
import torch

from driftlab.config import TrainConfig
from driftlab.models.hf import HFModel
from driftlab.train.common import training_args
from driftlab.train.sft import train_sft


def test_cpu_training_is_fp32_without_checkpointing():
    args = training_args(TrainConfig(), "/tmp/x", 0, torch.device("cpu"))
    assert args["bf16"] is False and args["fp16"] is False
    assert args["gradient_checkpointing"] is False and args["use_cpu"] is True


def test_one_sft_round_changes_the_weights_and_lowers_the_loss(tiny_model, tmp_path):
    m = HFModel.load(str(tiny_model))
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    rows = [
        {
            "prompt": [{"role": "user", "content": "What is 3 plus 4?"}],
            "completion": [{"role": "assistant", "content": "The answer is 7."}],
        }
    ] * 16
    target = [[{"role": "user", "content": "What is 3 plus 4?"}]]
    lp_before = m.logprobs(target, ["The answer is 7."])[0]
    res = train_sft(
        m,
        rows,
        TrainConfig(epochs=3, batch_size=4, lora_rank=8, learning_rate=5e-3),
        tmp_path / "adapter",
        seed=0,
        desc="t",
    )
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    changed = [k for k, v in m.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("q_proj" in k for k in changed)
    assert next(m.model.parameters()).dtype == torch.float32
    assert res.steps == 12 and res.losses[-1] < res.losses[0]
    assert m.logprobs(target, ["The answer is 7."])[0] > lp_before


def test_micro_batches_take_the_same_steps_as_whole_batches(tiny_model, tmp_path, monkeypatch):
    """On CPU a batch of 8 runs as 4 passes of 2 rows (less activation memory): same rows,
    same optimizer steps, same weights up to float summation order."""
    from driftlab.train import common

    assert common.micro_batches(8, on_gpu=False) == (2, 4)
    assert common.micro_batches(3, on_gpu=False) == (1, 3)
    assert common.micro_batches(8, on_gpu=True) == (8, 1)
    cfg = TrainConfig(batch_size=8, gradient_accumulation=2)
    args = training_args(cfg, "/tmp/x", 0, torch.device("cpu"))
    assert args["per_device_train_batch_size"] == 2 and args["gradient_accumulation_steps"] == 8
    rows = [
        {
            "prompt": [{"role": "user", "content": f"What is {a} plus 4?"}],
            "completion": [{"role": "assistant", "content": f"It is {a + 4}. " * (a % 3 + 1)}],
        }
        for a in range(16)
    ]
    cfg = TrainConfig(epochs=1, batch_size=8, lora_rank=4, lora_dropout=0.0, learning_rate=1e-2)
    weights, results = [], []
    for micro in (8, 2):
        monkeypatch.setattr(common, "CPU_MICRO_BATCH", micro)
        m = HFModel.load(str(tiny_model))
        results.append(train_sft(m, rows, cfg, tmp_path / f"a{micro}", seed=0, desc="t"))
        weights.append(m.model.state_dict())
    assert results[0].steps == results[1].steps == 2
    assert results[1].losses == pytest.approx(results[0].losses, rel=1e-4)
    for k, v in weights[0].items():
        assert torch.allclose(v, weights[1][k], atol=1e-5), k
