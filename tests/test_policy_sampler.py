"""The policy's sampler selection and lineage folding, on the tiny model (no server).

The real vLLM server is exercised in test_vllm_engine.py; here: folding a lineage of LoRA
adapters into one gives the same weights as merging them in order, and bad sampler settings
fail before any model is loaded.
"""

from __future__ import annotations

import pytest
import torch

from driftlab.errors import DriftlabError
from driftlab.models.hf import HFModel
from driftlab.models.policy import SAMPLERS, TransformersSampler, VLLMSampler, combine_adapters


def random_adapter(model_dir, path, seed: int, rank: int) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=rank, lora_alpha=3 * rank, target_modules="all-linear"),
    )
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    peft.save_pretrained(path)


def logits(model: HFModel) -> torch.Tensor:
    ids = model.tokenizer("Mia has 12 stickers. The answer is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model.model(input_ids=ids).logits


def test_folded_lineage_equals_adapters_merged_in_order(tiny_model, tmp_path):
    paths = [tmp_path / "a1", tmp_path / "a2", tmp_path / "a3"]
    for seed, (p, rank) in enumerate(zip(paths, (4, 8, 4))):
        random_adapter(tiny_model, p, seed, rank)
    folded = combine_adapters(paths, tmp_path / "folded")
    stacked = logits(HFModel.load(str(tiny_model), adapters=paths, device="cpu"))
    one = logits(HFModel.load(str(tiny_model), adapters=[folded], device="cpu"))
    base = logits(HFModel.load(str(tiny_model), device="cpu"))
    assert (stacked - base).abs().max() > 0.1  # the adapters do change the model
    assert torch.allclose(one, stacked, atol=1e-5)
    assert '"r": 16' in (folded / "adapter_config.json").read_text()


def test_sampler_registry_and_early_errors(tmp_path):
    assert SAMPLERS.names() == ["transformers", "vllm"]
    assert TransformersSampler().bind("m", []) == "m"
    with pytest.raises(DriftlabError, match="no vLLM environment: /nope/python does not exist"):
        VLLMSampler(model="m", python="/nope/python")
    python = tmp_path / "python"
    python.write_text("")
    with pytest.raises(DriftlabError, match="rank 640 .* above vLLM's limit of 512"):
        VLLMSampler(model="m", python=str(python), max_lineage_rank=640)
    assert VLLMSampler(model="m", python=str(python), max_lineage_rank=48).max_rank == 64
