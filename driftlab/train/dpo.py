"""Direct Preference Optimization of a LoRA adapter on a round's preference pairs, through TRL.

DPO (Rafailov et al. 2023, arXiv:2305.18290) trains the policy to raise the log-ratio of chosen
over rejected replies relative to a frozen reference, with strength beta. Self-rewarding LMs
(Yuan et al. 2024) train each iteration M_t -> M_{t+1} this way, and RL-CAI here uses it in place
of PPO. The reference is either

- "current": M_t, the weights this round starts from. With a PEFT adapter TRL computes reference
  log-probs with the adapter disabled, which is exactly M_t, at no extra memory; or
- "initial": M_0, loaded fresh through the experiment's `initial_model` loader, a KL anchor to
  the starting model across every round (a mitigation against drift).

CPU settings (fp32, no gradient checkpointing) come from `common.training_args`: DPOConfig
defaults to bf16 and checkpointing, each of which makes a CPU step many times slower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from datasets import Dataset
from transformers import set_seed
from trl import DPOConfig, DPOTrainer

from driftlab.errors import DriftlabError
from driftlab.models.hf import HFModel
from driftlab.train import TRAINERS
from driftlab.train.common import ProgressCallback, TrainResult, train_adapter
from driftlab.train.settings import TrainConfig

Reference = Literal["current", "initial"]


@dataclass
class DPOResult(TrainResult):
    """TrainResult plus DPO's implicit-reward margin and accuracy (chosen rewarded above
    rejected)."""

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
    """Train a fresh LoRA adapter on (prompt, chosen, rejected) rows, save it, merge it into
    `model`.

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
    callback = DPOProgress(desc)
    result = train_adapter(
        DPOTrainer,
        DPOConfig,
        model,
        data,
        cfg,
        adapter_dir,
        seed,
        callback,
        token_columns=["prompt_ids", "chosen_ids", "rejected_ids"],
        on_trainer=on_trainer,  # a launched worker adds its logging here
        config={"beta": beta},
        ref_model=ref_model,
    )
    return DPOResult(**asdict(result), margins=callback.margins, accuracies=callback.accuracies)
