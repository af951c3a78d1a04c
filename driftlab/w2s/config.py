"""The `driftlab w2s` config: TOML validated by pydantic; unknown keys are errors.

One file describes a whole weak-to-strong sweep (Burns et al. 2023): the model ladder, the
tasks, the losses, the seeds, and which of the paper's experiments to add. Each experiment is
a switch so a sweep stays one command, and every trained model is cached by its own settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from driftlab import presets
from driftlab.errors import ConfigError
from driftlab.sections import Device, Section, read_config


class TaskSpec(Section):
    model_config = ConfigDict(extra="allow")  # the task's own settings, checked by its signature
    name: str

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataConfig(Section):
    n_a: int = Field(200, ge=4, description="split A: ground truth for the weak supervisor")
    n_b: int = Field(
        200, ge=4, description="split B: weak labels for the student, truth for the ceiling"
    )
    n_test: int = Field(300, ge=4, description="held-out test items (fixed across seeds)")
    val_frac: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="part of B kept out of training, weak labels only, "
        "for label-free early stopping",
    )
    max_length: int = Field(64, ge=8, description="tokens per text")


class RungConfig(Section):
    """How each rung of the ladder becomes a classifier (`[model]`)."""

    finetune: Literal["top", "lora", "full"] = Field(
        "top",
        description="top: train the top `train_layers` blocks + head, frozen lower blocks run once "
        "and cached; lora: LoRA on every linear layer + head; full: everything",
    )
    train_layers: int = Field(2, ge=0, description="top mode: blocks trained (0 = linear probe)")
    pooling: Literal["auto", "last", "mean"] = Field(
        "auto",
        description="auto: last token for decoders (the only one that saw the whole text), "
        "mean for encoders (what sentence encoders are trained with)",
    )
    depth: float = Field(
        1.0, gt=0, le=1, description="share of the blocks kept; the head reads there"
    )
    lora_rank: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    device: Device = "cpu"


class FitConfig(Section):
    """How a classifier is fitted to its labels (`[train]`; w2s/train.py)."""

    epochs: float = Field(3.0, gt=0)
    batch_size: int = Field(16, ge=2)
    learning_rate: float = Field(1e-4, gt=0)
    head_learning_rate: float = Field(1e-3, gt=0, description="the new classification head")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(
        1.0,
        ge=0,
        description="clip the gradient norm (0 = off); transformers' default. "
        "Without it a few early steps on a fresh head can throw the top blocks off",
    )
    warmup_frac: float = Field(
        0.1, ge=0, lt=1, description="linear learning-rate warm-up, then linear decay"
    )
    evals_per_epoch: int = Field(
        4, ge=1, description="test/val evaluations per epoch (curves, early stopping)"
    )


class LossConfig(Section):
    confidence_max: float = Field(
        0.75, ge=0, le=1, description="c's maximum (paper: 0.75 for large students)"
    )
    warmup_frac: float = Field(
        0.2, gt=0, le=1, description="c rises smoothly over this fraction of training"
    )
    product_alpha: float = Field(1.0, ge=0, description="exponent of the weak labels")
    product_beta: float = Field(1.0, ge=0, description="exponent of the student's own predictions")


class BootstrapConfig(Section):
    enabled: bool = False


class PromptingConfig(Section):
    enabled: bool = False
    shots: int = Field(5, ge=1)
    n_test: int = Field(
        100, ge=4, description="test items prompted (prompts are long: keep it small on CPU)"
    )


class SyntheticConfig(Section):
    enabled: bool = False
    kinds: list[Literal["noise", "flip"]] = ["noise", "flip"]
    rate: float = Field(0.25, gt=0, lt=0.5, description="share of wrong labels")


class EasyToHardConfig(Section):
    enabled: bool = False
    confident_frac: float = Field(
        0.5, gt=0, le=1, description="share of B kept: the supervisor's most confident"
    )


class GenerativeConfig(Section):
    enabled: bool = False
    steps: int = Field(30, ge=1, description="causal-LM steps on the task's unlabeled texts")
    learning_rate: float = Field(5e-5, gt=0)
    batch_size: int = Field(16, ge=1)


class VariantsConfig(Section):
    """`[experiments]`: the paper's variants of the baseline sweep, each a switch (variants.py)."""

    bootstrap: BootstrapConfig = BootstrapConfig()
    prompting: PromptingConfig = PromptingConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    easy_to_hard: EasyToHardConfig = EasyToHardConfig()
    generative: GenerativeConfig = GenerativeConfig()


class W2SConfig(Section):
    name: str = "w2s"
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    ladder: list[str] = Field(
        ["minilm-l6", "smollm2-135m-instruct", "gemma3-270m"],
        min_length=1,
        description="weakest first",
    )
    pairs: Literal["all", "strictly_stronger", "adjacent"] = Field(
        "all", description="all: every (weak, strong) with strong at or above weak in the ladder"
    )
    losses: list[Literal["xent", "confidence", "product"]] = Field(
        ["xent", "confidence"], min_length=1
    )
    tasks: list[TaskSpec] = Field([TaskSpec(name="facts")], min_length=1)
    bootstrap_resamples: int = Field(2000, ge=100)
    min_gap: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="PGR is reported only where ceiling - weak accuracy "
        "is at least this: a ratio over a smaller (or negative) gap is noise",
    )
    data: DataConfig = DataConfig()
    model: RungConfig = RungConfig()
    train: FitConfig = FitConfig()
    loss: LossConfig = LossConfig()
    experiments: VariantsConfig = VariantsConfig()

    @model_validator(mode="after")
    def _distinct(self) -> W2SConfig:
        if len(set(self.ladder)) != len(self.ladder):
            raise ValueError("ladder names a model twice")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds repeat")
        return self

    def pair_list(self) -> list[tuple[str, str]]:
        lad = self.ladder
        if self.pairs == "adjacent":
            return [(lad[i], lad[i + 1]) for i in range(len(lad) - 1)]
        start = 1 if self.pairs == "strictly_stronger" else 0
        return [(lad[i], lad[j]) for i in range(len(lad)) for j in range(i + start, len(lad))]


def load_w2s_config(path: str | Path | None = None, preset: str | None = None) -> W2SConfig:
    """Read and validate a w2s config file or a w2s preset (presets/w2s/); every problem is one
    ConfigError."""
    if (path is None) == (preset is None):
        raise ConfigError("give a CONFIG file or --preset NAME (one of them)")
    cfg, source = read_config(W2SConfig, path, preset, "w2s")
    from driftlab.w2s.tasks import check_task

    for spec in cfg.tasks:
        try:
            check_task(spec)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    return cfg


def list_w2s_presets() -> list[str]:
    """The w2s presets (presets/w2s/); `driftlab run` has its own (presets/run/)."""
    return presets.names("w2s")
