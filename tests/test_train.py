import torch

from driftlab.config import TrainConfig
from driftlab.models.hf import HFModel
from driftlab.train.lora import training_args
from driftlab.train.sft import train_sft


def test_cpu_training_is_fp32_without_checkpointing():
    args = training_args(TrainConfig(), "/tmp/x", 0, torch.device("cpu"))
    assert args["bf16"] is False and args["fp16"] is False
    assert args["gradient_checkpointing"] is False and args["use_cpu"] is True


def test_one_sft_round_changes_the_weights_and_lowers_the_loss(tiny_model, tmp_path):
    m = HFModel.load(str(tiny_model))
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    rows = [{"prompt": [{"role": "user", "content": "What is 3 plus 4?"}],
             "completion": [{"role": "assistant", "content": "The answer is 7."}]}] * 16
    target = [[{"role": "user", "content": "What is 3 plus 4?"}]]
    lp_before = m.logprobs(target, ["The answer is 7."])[0]
    res = train_sft(m, rows, TrainConfig(epochs=3, batch_size=4, lora_rank=8, learning_rate=5e-3),
                    tmp_path / "adapter", seed=0, desc="t")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    changed = [k for k, v in m.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("q_proj" in k for k in changed)
    assert next(m.model.parameters()).dtype == torch.float32
    assert res.steps == 12 and res.losses[-1] < res.losses[0]
    assert m.logprobs(target, ["The answer is 7."])[0] > lp_before
