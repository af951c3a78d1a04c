"""`driftlab diff` on a trainer's checkpoint folders: "what changed between step 2 and step 4?"."""

from __future__ import annotations

import json
import sys

from driftlab.cli import main
from driftlab.diff.sampling import parse_spec


def _checkpoints(tiny_model, root):
    """checkpoint-2: full weights; checkpoint-4: a LoRA adapter on the tiny base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    full = root / "checkpoint-2"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(full)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(full)
    adapter = root / "checkpoint-4"
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    peft.save_pretrained(adapter)
    return full, adapter


def test_diff_between_two_checkpoint_folders(tiny_model, tmp_path, monkeypatch, capsys):
    full, adapter = _checkpoints(tiny_model, tmp_path / "out")
    assert parse_spec(str(full)) == (str(full), [])
    assert parse_spec(str(adapter)) == (str(tiny_model), [adapter])  # the base its config names
    out = tmp_path / "diff"
    args = ["diff", full, adapter, "--out", out, "--max-prompts", 16, "--max-new-tokens", 4]
    monkeypatch.setattr(sys, "argv", ["driftlab", *map(str, args + ["--labeler", tiny_model])])
    main()
    doc = json.loads((out / "findings.json").read_text())
    assert doc["n_texts"] == {"a": 16, "b": 16}
    assert (doc["model_a"], doc["model_b"]) == (str(full), str(adapter))
    assert "findings.json" in capsys.readouterr().out
