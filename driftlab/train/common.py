"""What every trainer shares: `TrainResult`, the TrainingArguments settings, the progress bar,
and one run of a TRL trainer on a fresh LoRA adapter (`train_adapter`).

TRL's configs default to bf16 and some recipes turn on gradient checkpointing: on a CPU,
bf16 matmul is ~600x slower than fp32 and checkpointing only costs time, so a CPU trains in
fp32 without checkpointing (`run_args`, which scripts driving TRL themselves use too, e.g.
examples/reward_hack_grpo.py), in micro-batches of CPU_MICRO_BATCH rows (gradient
accumulation keeps the configured batch). A GPU trains in bf16 where it supports it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import torch
from datasets import Dataset
from transformers import PrinterCallback, TrainerCallback

from driftlab import progress
from driftlab.train.lora import finish, lora_config
from driftlab.train.settings import TrainConfig

if TYPE_CHECKING:
    from driftlab.models.hf import HFModel

datasets.disable_progress_bars()

# Rows per forward/backward pass on a CPU. Activations kept for the backward pass grow with the
# rows of a pass (about 1.3 MB per token for SmolLM2-135M): the configured batch is reached by
# gradient accumulation over passes of this many rows, the same optimizer steps on the same rows.
CPU_MICRO_BATCH = 2


@dataclass
class TrainResult:
    steps: int
    losses: list[float]
    tokens: int
    seconds: float  # wall clock: "seconds" and "tokens_per_s" are store.TIME_FIELDS

    def summary(self) -> dict[str, float]:
        return {
            "steps": self.steps,
            "first_loss": self.losses[0] if self.losses else float("nan"),
            "last_loss": self.losses[-1] if self.losses else float("nan"),
            "tokens": self.tokens,
            "seconds": round(self.seconds, 2),
            "tokens_per_s": self.tokens / self.seconds if self.seconds else 0.0,
        }


def micro_batches(batch_size: int, on_gpu: bool) -> tuple[int, int]:
    """(rows per pass, passes per batch): the largest divisor of batch_size <= CPU_MICRO_BATCH."""
    if on_gpu:
        return batch_size, 1
    rows = max(d for d in range(1, min(batch_size, CPU_MICRO_BATCH) + 1) if batch_size % d == 0)
    return rows, batch_size // rows


def run_args(device: torch.device, seed: int) -> dict[str, Any]:
    """TrainingArguments for any transformers/TRL trainer on `device`: the precision above,
    seeded model init and data order, in-process data loading, no reporting, no tqdm bar."""
    on_gpu = device.type == "cuda"
    return dict(
        seed=seed,
        data_seed=seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        fp16=False,
        use_cpu=not on_gpu,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        report_to="none",
        logging_steps=1,
        disable_tqdm=True,  # ProgressCallback's bar, or the script's own output
    )


def training_args(
    cfg: TrainConfig, output_dir: str, seed: int, device: torch.device
) -> dict[str, Any]:
    """Keyword arguments common to SFTConfig and DPOConfig: `[train]` and `run_args`."""
    rows, passes = micro_batches(cfg.batch_size, device.type == "cuda")
    return dict(
        output_dir=output_dir,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=rows,
        gradient_accumulation_steps=cfg.gradient_accumulation * passes,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a fraction of all steps
        max_length=cfg.max_length,
        save_strategy="no",
        **run_args(device, seed),
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


def train_adapter(
    trainer_cls: Callable[..., Any],
    config_cls: Callable[..., Any],
    model: HFModel,
    data: Dataset,
    cfg: TrainConfig,
    adapter_dir: Path,
    seed: int,
    callback: ProgressCallback,
    token_columns: Sequence[str],
    on_trainer: Callable | None = None,
    config: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Train a fresh LoRA adapter on `model` with a TRL trainer, save it, merge it into `model`.

    `config` adds the trainer's own settings to `training_args`; `token_columns` are the columns
    of the tokenized data that count as trained tokens; `on_trainer(trainer)` runs before
    training (a launched worker adds its logging there). The caller seeds first (set_seed):
    the LoRA weights are initialised here.
    """
    with tempfile.TemporaryDirectory(prefix="driftlab-trainer-") as work:
        args = config_cls(**training_args(cfg, work, seed, model.device), **(config or {}))
        model.tokenizer.padding_side = "right"
        trainer = trainer_cls(
            model=model.model,
            args=args,
            train_dataset=data,
            processing_class=model.tokenizer,
            peft_config=lora_config(cfg),
            callbacks=[callback],
            **trainer_kwargs,
        )
        trainer.remove_callback(PrinterCallback)  # our progress bar replaces its log lines
        if on_trainer is not None:
            on_trainer(trainer)
        prepared: Any = trainer.train_dataset  # a datasets.Dataset once TRL has tokenized it
        tokens = sum(len(x) for column in token_columns for x in prepared[column])
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        finish(trainer, model, adapter_dir)
    return TrainResult(
        trainer.state.global_step, callback.losses, int(tokens * cfg.epochs), seconds
    )
