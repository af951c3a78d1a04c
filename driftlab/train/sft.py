"""Supervised fine-tuning of a LoRA adapter on a round's selected data, through TRL."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import datasets
from datasets import Dataset
from transformers import PrinterCallback, set_seed
from trl import SFTConfig, SFTTrainer

from driftlab.config import TrainConfig
from driftlab.models.hf import HFModel
from driftlab.train import TRAINERS
from driftlab.train.lora import ProgressCallback, finish, lora_config, training_args

datasets.disable_progress_bars()


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


@TRAINERS.register("sft")
def train_sft(
    model: HFModel,
    rows: list[dict],
    cfg: TrainConfig,
    adapter_dir: Path,
    seed: int,
    desc: str,
    on_trainer: Callable | None = None,
    **context,
) -> TrainResult:
    """Train a fresh LoRA adapter on top of `model`, save it, and merge it into `model`.

    Rows are TRL conversational prompt-completion pairs; loss is on the completion only.
    `on_trainer(trainer)` runs before training (a launched worker adds its logging there).
    """
    # Seed before the LoRA weights are initialised: on resume, no sampling precedes this call.
    set_seed(seed)
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    with tempfile.TemporaryDirectory(prefix="driftlab-trainer-") as work:
        args = SFTConfig(
            **training_args(cfg, work, seed, model.device),
            completion_only_loss=True,
            packing=False,
        )
        return _train(model, data, args, cfg, adapter_dir, desc, on_trainer)


def _train(
    model: HFModel,
    data: Dataset,
    args: SFTConfig,
    cfg: TrainConfig,
    adapter_dir: Path,
    desc: str,
    on_trainer: Callable | None = None,
) -> TrainResult:
    callback = ProgressCallback(desc)
    model.tokenizer.padding_side = "right"
    trainer = SFTTrainer(
        model=model.model,
        args=args,
        train_dataset=data,
        processing_class=model.tokenizer,
        peft_config=lora_config(cfg),
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # our progress bar replaces its log lines
    if on_trainer is not None:
        on_trainer(trainer)
    prepared = cast(Dataset, trainer.train_dataset)  # the tokenized copy of ours
    tokens = sum(len(x) for x in prepared["input_ids"])
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    finish(trainer, model, adapter_dir)
    return TrainResult(
        trainer.state.global_step, callback.losses, int(tokens * cfg.epochs), seconds
    )
