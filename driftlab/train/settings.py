"""The training sections of a run config: `[train]` (LoRA SFT/DPO) and the DPO settings that
every preference-training loop shares. Here, under train/, so trainers read their settings
without importing the run config that composes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from driftlab.sections import Section


class TrainConfig(Section):
    """LoRA SFT/DPO settings. CPU always trains in fp32 without gradient checkpointing."""

    learning_rate: float = Field(2e-4, gt=0)
    epochs: float = Field(2.0, gt=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | Literal["all-linear"] = "all-linear"
    max_length: int = Field(512, ge=16)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    processes: int = Field(
        1,
        ge=1,
        description="training processes under `accelerate launch` "
        "(the round loop stays in one); 1 trains in the loop's own process",
    )
    accelerate_config: str | None = Field(
        None,
        description="an accelerate YAML for the launched "
        "processes, e.g. docs/accelerate/fsdp2.yaml (GPU only)",
    )

    @field_validator("accelerate_config")
    @classmethod
    def _config_file_exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"accelerate config file not found: {v}")
        return v


class DPOSettings(BaseModel):
    """What the DPO trainer needs from a loop's config; loops that train on preference pairs
    inherit these keys, so `reference` and `beta` mean the same in every `[loop]` section."""

    reference: Literal["current", "initial"] = Field(
        "current", description="DPO reference: M_t, the round's starting model (paper), or M_0"
    )
    beta: float = Field(0.1, gt=0, description="DPO beta: strength of the pull to the reference")

    def dpo_context(self) -> dict[str, Any]:
        """The keyword arguments the "dpo" trainer takes from the loop (see train/dpo.py)."""
        return {"reference": self.reference, "beta": self.beta}
