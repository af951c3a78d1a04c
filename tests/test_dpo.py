import pytest
import torch

from driftlab.config import TrainConfig
from driftlab.errors import DriftlabError
from driftlab.models.hf import HFModel
from driftlab.train import get_trainer
from driftlab.train.common import training_args

PROMPT = [{"role": "user", "content": "Is the sky blue?"}]
ROWS = [
    {
        "prompt": PROMPT,
        "chosen": [{"role": "assistant", "content": "Yes, the sky is blue."}],
        "rejected": [{"role": "assistant", "content": "No."}],
    }
] * 8
CFG = TrainConfig(epochs=2, batch_size=4, lora_rank=8, learning_rate=5e-3)


def margin(m: HFModel) -> float:
    chosen, rejected = m.logprobs([PROMPT, PROMPT], ["Yes, the sky is blue.", "No."])
    return chosen - rejected


def test_dpo_is_registered_and_cpu_safe():
    from trl import DPOConfig

    dpo = get_trainer("dpo")
    assert dpo.__name__ == "train_dpo"
    args = DPOConfig(**training_args(TrainConfig(), "/tmp/x", 0, torch.device("cpu")))
    assert args.bf16 is False and args.gradient_checkpointing is False


def test_one_dpo_round_changes_the_weights_towards_chosen(tiny_model, tmp_path):
    m = HFModel.load(str(tiny_model))
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    m_before = margin(m)
    res = get_trainer("dpo")(m, ROWS, CFG, tmp_path / "adapter", seed=0, desc="t", beta=0.1)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    changed = [k for k, v in m.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("q_proj" in k for k in changed)
    assert next(m.model.parameters()).dtype == torch.float32
    assert res.steps == 4 and res.losses[-1] < res.losses[0]
    assert margin(m) > m_before
    assert res.summary()["last_reward_margin"] > 0


def test_dpo_with_the_initial_model_as_reference(tiny_model, tmp_path):
    m = HFModel.load(str(tiny_model))
    loads = []

    def initial():
        loads.append(1)
        return HFModel.load(str(tiny_model))

    res = get_trainer("dpo")(
        m, ROWS, CFG, tmp_path / "a", seed=0, desc="t", initial_model=initial, reference="initial"
    )
    assert loads == [1] and res.steps == 4
    with pytest.raises(DriftlabError, match="loader of model_0"):
        get_trainer("dpo")(m, ROWS, CFG, tmp_path / "b", seed=0, desc="t", reference="initial")
