"""The LoRA adapter a trainer trains: its config, and saving and merging it (`finish`)."""

from __future__ import annotations

from typing import Any

from peft import LoraConfig

from driftlab.models.memory import release
from driftlab.train.settings import TrainConfig


def lora_config(cfg: TrainConfig) -> LoraConfig:
    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_targets,
        task_type="CAUSAL_LM",
    )


def _sort_sets(peft_model: Any) -> None:
    """Make the same training write the same bytes.

    PEFT keeps e.g. the resolved `target_modules` as a set and writes it as a list in the
    set's order, which changes with each process's hash seed: sort such fields first.
    """
    for cfg in peft_model.peft_config.values():
        for key, value in vars(cfg).items():
            if isinstance(value, (set, frozenset)):
                setattr(cfg, key, sorted(value))


def finish(trainer, model, adapter_dir) -> None:
    """Save the trained adapter once; in a single process, merge it into `model` (an HFModel).

    Under `accelerate launch` every rank holds the same trained weights: the main process alone
    writes them (every rank takes part in gathering them under FSDP/DeepSpeed, which Trainer's
    save_model does), and no rank merges: the launching process merges the saved adapter into
    its own model (train/launch.py).
    """
    _sort_sets(trainer.model)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        trainer.save_model(str(adapter_dir))
    elif trainer.accelerator.is_main_process:
        trainer.model.save_pretrained(str(adapter_dir))
    if trainer.accelerator.num_processes == 1:
        model.model = trainer.model.merge_and_unload().eval()
    release()  # the training passes' activations are garbage now
