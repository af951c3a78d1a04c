"""Direct Preference Optimization of a LoRA adapter on a round's preference pairs, through TRL.

DPO (Rafailov et al. 2023, arXiv:2305.18290) trains the policy to raise the log-ratio of chosen
over rejected replies relative to a frozen reference, with strength beta. Self-rewarding LMs
(Yuan et al. 2024) train each iteration M_t -> M_{t+1} this way, and RL-CAI here uses it in place
of PPO. The reference is either

- "current": M_t, the weights this round starts from. With a PEFT adapter TRL computes reference
  log-probs with the adapter disabled, which is exactly M_t, at no extra memory; or
- "initial": M_0, loaded fresh through the experiment's `initial_model` loader, a KL anchor to
  the starting model across every round (a mitigation against drift).

CPU settings (fp32, no gradient checkpointing) come from `lora.training_args`: DPOConfig
defaults to bf16 and checkpointing, each of which makes a CPU step many times slower.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import datasets
from datasets import Dataset
from transformers import PrinterCallback, set_seed
from trl import DPOConfig, DPOTrainer

from driftlab.config import TrainConfig
from driftlab.errors import DriftlabError
from driftlab.models.hf import HFModel
from driftlab.train import TRAINERS
from driftlab.train.lora import ProgressCallback, finish, lora_config, training_args
from driftlab.train.sft import TrainResult

datasets.disable_progress_bars()

Reference = Literal["current", "initial"]


@dataclass
class DPOResult(TrainResult):
    """TrainResult plus DPO's implicit-reward margin and accuracy (chosen rewarded > rejected)."""

    margins: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        nan = float("nan")
        return {
            **super().summary(),
            "last_reward_margin": self.margins[-1] if self.margins else nan,
            "last_reward_accuracy": self.accuracies[-1] if self.accuracies else nan,
        }


class DPOProgress(ProgressCallback):
    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.margins: list[float] = []
        self.accuracies: list[float] = []

    def on_log(self, args, state, control, logs=None, **kw):
        super().on_log(args, state, control, logs=logs, **kw)
        if logs and "rewards/margins" in logs:
            self.margins.append(float(logs["rewards/margins"]))
        if logs and "rewards/accuracies" in logs:
            self.accuracies.append(float(logs["rewards/accuracies"]))


@TRAINERS.register("dpo")
def train_dpo(
    model: HFModel,
    rows: list[dict],
    cfg: TrainConfig,
    adapter_dir: Path,
    seed: int,
    desc: str,
    initial_model: Callable[[], HFModel] | None = None,
    reference: Reference = "current",
    beta: float = 0.1,
    on_trainer: Callable | None = None,
    **context,
) -> DPOResult:
    """Train a fresh LoRA adapter on (prompt, chosen, rejected) rows, save it, merge it in `model`.

    Rows are TRL conversational preference rows: `prompt` a chat, `chosen`/`rejected` one
    assistant message each.
    """
    if reference not in ("current", "initial"):
        raise DriftlabError(f"DPO reference must be 'current' or 'initial', got {reference!r}")
    set_seed(seed)  # before the LoRA weights are initialised
    data = Dataset.from_list(
        [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    )
    ref_model = None
    if reference == "initial":
        if initial_model is None:
            raise DriftlabError("DPO with reference = 'initial' needs a loader of model_0")
        ref_model = initial_model().model.to(model.device).eval()
    with tempfile.TemporaryDirectory(prefix="driftlab-dpo-") as work:
        args = DPOConfig(**training_args(cfg, work, seed, model.device), beta=beta)
        callback = DPOProgress(desc)
        model.tokenizer.padding_side = "right"
        trainer = DPOTrainer(
            model=model.model,
            ref_model=ref_model,
            args=args,
            train_dataset=data,
            processing_class=model.tokenizer,
            peft_config=lora_config(cfg),
            callbacks=[callback],
        )
        trainer.remove_callback(PrinterCallback)
        if on_trainer is not None:  # a launched worker adds its logging here
            on_trainer(trainer)
        prepared = cast(Dataset, trainer.train_dataset)  # the tokenized copy of ours
        tokens = sum(
            len(p) + len(c) + len(r)
            for p, c, r in zip(
                prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"]
            )
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        finish(trainer, model, adapter_dir)
    return DPOResult(
        trainer.state.global_step,
        callback.losses,
        int(tokens * cfg.epochs),
        seconds,
        callback.margins,
        callback.accuracies,
    )
