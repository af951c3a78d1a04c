"""What every trainer shares: LoRA and TrainingArguments settings, the progress bar, and
saving and merging the trained adapter (`finish`).

TRL's configs default to bf16 and some recipes turn on gradient checkpointing: on a CPU,
bf16 matmul is ~600x slower than fp32 and checkpointing only costs time, so a CPU trains in
fp32 without checkpointing, in micro-batches of CPU_MICRO_BATCH rows (gradient accumulation
keeps the configured batch). A GPU trains in bf16 where it supports it.
"""

from __future__ import annotations

from typing import Any

import torch
from peft import LoraConfig
from transformers import TrainerCallback

from driftlab import progress
from driftlab.models.memory import release
from driftlab.train.settings import TrainConfig

# Rows per forward/backward pass on a CPU. Activations kept for the backward pass grow with the
# rows of a pass (about 1.3 MB per token for SmolLM2-135M): the configured batch is reached by
# gradient accumulation over passes of this many rows, the same optimizer steps on the same rows.
CPU_MICRO_BATCH = 2


def micro_batches(batch_size: int, on_gpu: bool) -> tuple[int, int]:
    """(rows per pass, passes per batch): the largest divisor of batch_size <= CPU_MICRO_BATCH."""
    if on_gpu:
        return batch_size, 1
    rows = max(d for d in range(1, min(batch_size, CPU_MICRO_BATCH) + 1) if batch_size % d == 0)
    return rows, batch_size // rows


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


def training_args(
    cfg: TrainConfig, output_dir: str, seed: int, device: torch.device
) -> dict[str, Any]:
    """Keyword arguments common to SFTConfig and DPOConfig."""
    on_gpu = device.type == "cuda"
    rows, passes = micro_batches(cfg.batch_size, on_gpu)
    return dict(
        output_dir=output_dir,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=rows,
        gradient_accumulation_steps=cfg.gradient_accumulation * passes,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a fraction of all steps
        max_length=cfg.max_length,
        seed=seed,
        data_seed=seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        fp16=False,
        use_cpu=not on_gpu,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,  # our own progress bar below
    )


class ProgressCallback(TrainerCallback):
    """Training steps as a rich progress bar; keeps the loss history for the record."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.losses: list[float] = []
        self._ctx: Any = None  # the progress bar's context, open while training
        self._advance: Any = None

    def on_train_begin(self, args, state, control, **kw):
        self._ctx = progress.task(self.desc, total=state.max_steps, unit="steps")
        self._advance = self._ctx.__enter__()

    def on_step_end(self, args, state, control, **kw):
        if self._advance is not None:
            self._advance(1)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_train_end(self, args, state, control, **kw):
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)


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
