"""The watch config (TOML): a run config without a loop; `[model] name` is the base model.

name = "grpo-watch"
[model]
name = "smollm2-135m-instruct"   # round 0, and the base of adapter checkpoints
[task]
name = "arithmetic"
eval_size = 32
[monitors.capability]
samples = 2
[guard]
rules = ["diversity.truncated_rate > baseline + 0.2"]
[watch]
pattern = "checkpoint-*"
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from driftlab.config import MeasuredConfig, ModelConfig, Section, read_config

STOP_FILE = "driftlab-stop.json"  # written beside the checkpoints when a tripwire fires
EXIT_TRIPWIRE = 3  # `driftlab watch` exit status when a tripwire fired (2: bad input)


class BaseModelConfig(ModelConfig):
    # optional here, unlike a run's model: a watch may take its first checkpoint as round 0
    name: str | None = Field(  # type: ignore[assignment]
        None,
        description="base model: round 0, and what adapters apply to; "
        "unset: the first checkpoint is round 0",
    )


class WatchSettings(Section):
    pattern: str = Field(
        "checkpoint-*",
        description="glob, relative to the watched folder, of "
        "checkpoint folders; the first number in it is the step",
    )
    poll_s: float = Field(5.0, gt=0, description="seconds between looks at the folder (--follow)")
    settle_s: float = Field(
        10.0,
        ge=0,
        description="without trainer_state.json, a checkpoint is "
        "complete once its files stay unchanged this long",
    )
    idle_timeout_s: float = Field(
        3600.0, gt=0, description="--follow gives up after this long without a new checkpoint"
    )


class WatchConfig(MeasuredConfig):
    name: str = "watch"
    model: BaseModelConfig = BaseModelConfig()
    watch: WatchSettings = WatchSettings()

    def metric_names(self) -> list[str]:
        """Beside the monitors': the step, and what the trainer logged (the TRL callback)."""
        return [*super().metric_names(), "step", "train.*"]


def load_watch_config(path: str | Path) -> WatchConfig:
    cfg, source = read_config(WatchConfig, path, None, [])
    from driftlab.errors import ConfigError

    try:
        return cfg.check()
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
