"""Supervised fine-tuning of a LoRA adapter on a round's selected data, through TRL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from datasets import Dataset
from transformers import set_seed
from trl import SFTConfig, SFTTrainer

from driftlab.models.hf import HFModel
from driftlab.train import TRAINERS
from driftlab.train.common import ProgressCallback, TrainResult, train_adapter
from driftlab.train.settings import TrainConfig


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
    return train_adapter(
        SFTTrainer,
        SFTConfig,
        model,
        data,
        cfg,
        adapter_dir,
        seed,
        ProgressCallback(desc),
        token_columns=["input_ids"],
        on_trainer=on_trainer,
        config={"completion_only_loss": True, "packing": False},
    )
