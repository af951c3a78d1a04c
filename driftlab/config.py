"""The experiment config: TOML, validated by pydantic. Unknown keys are errors.

Method- and monitor-specific sections are validated against the config class their
registry entry declares, so a new loop brings its own settings and nothing here changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from driftlab import presets
from driftlab.errors import ConfigError, DriftlabError
from driftlab.guard import GuardConfig
from driftlab.models.builtin import check_name
from driftlab.models.spec import check_model
from driftlab.review.settings import ReviewConfig
from driftlab.sections import Device, Section, read_config, validate_section
from driftlab.sections import dump_config as dump_config  # the run API re-exports it
from driftlab.train.mitigations import MitigationConfig
from driftlab.train.settings import TrainConfig

if TYPE_CHECKING:
    from driftlab.monitors.base import MonitorConfig
    from driftlab.tasks import Task


class ModelConfig(Section):
    name: str = Field("smollm2-135m-instruct", description="built-in name, local path or hub id")
    device: Device = Field("auto", description="auto, cpu, cuda[:i] or mps")
    batch_size: int = Field(64, ge=1, description="sequences per forward pass when sampling")
    sampler: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="engine that samples the policy (training stays on transformers)",
    )
    vllm_python: str = Field(
        "",
        description="python of the vLLM environment (default: "
        "$DRIFTLAB_VLLM_PYTHON, else .venv-vllm/bin/python)",
    )
    vllm_args: list[str] = Field(
        default_factory=list,
        description="extra vLLM server arguments, e.g. ['--gpu-memory-utilization', '0.5']",
    )


class TaskConfig(Section):
    model_config = ConfigDict(extra="allow")  # the rest is the task's own settings, checked below
    name: str = "arithmetic"
    train_size: int = Field(32, ge=1, description="unlabeled questions the loop sees per round")
    eval_size: int = Field(50, ge=1, description="held-out questions with ground truth")

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MeasuredConfig(Section):
    """What measuring a model needs: the task, the monitors and the guard.

    Shared by loop runs (ExperimentConfig) and by supervising other trainers
    (driftlab.integrations.settings.WatchConfig).
    """

    name: str = "experiment"
    seed: int = 0
    model: ModelConfig = ModelConfig()
    task: TaskConfig = TaskConfig()
    monitors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    guard: GuardConfig = GuardConfig()

    def monitor_settings(self) -> dict[str, MonitorConfig]:
        """Each enabled monitor's typed config: defaults unless the config names it.

        Every built-in monitor runs unless disabled; an installed plugin's only where the
        config names it (`[monitors.NAME]`), so installing a package changes no run.
        """
        from driftlab.monitors import MONITORS

        for name in self.monitors:
            MONITORS.get(name)  # unknown monitor names are errors
        out: dict[str, MonitorConfig] = {}
        for name in sorted({*MONITORS.builtin_names(), *self.monitors}):
            body = dict(self.monitors.get(name, {}))
            cfg = validate_section(MONITORS.get(name).Config, body, f"monitors.{name}")
            if cfg.enabled:
                out[name] = cfg
        return out

    def metric_names(self) -> list[str]:
        """The round table's columns this config can produce: what guard rules may name.

        Monitors declare theirs (`metric_names`); a loop run adds its loop's and its own
        bookkeeping columns (ExperimentConfig).
        """
        from driftlab.monitors import MONITORS

        return [
            f"{m}.{n}"
            for m, c in self.monitor_settings().items()
            for n in MONITORS.get(m).metric_names(c)
        ]

    def check(self) -> Self:
        """Validate every nested, registry-typed section now, not mid-run."""
        self.guard.check_metrics(self.metric_names())
        named = [("model.name", self.model.name)] if self.model.name else []
        for name, cfg in self.monitor_settings().items():  # e.g. the diff monitor's labeler
            specs: dict[str, str] = getattr(cfg, "model_specs", dict)()
            named += [(f"monitors.{name}.{key}", spec) for key, spec in specs.items()]
        for where, spec in named:
            try:
                (check_name if where == "model.name" else check_model)(spec)
            except DriftlabError as e:
                raise ConfigError(f"{where}: {e}") from None
        self.build_task()
        return self

    def build_task(self) -> Task:
        """The configured task (tasks.build_task, the one task factory)."""
        from driftlab.tasks import build_task

        return build_task(
            self.task.name, config_keys=tuple(TaskConfig.model_fields), **self.task.settings()
        )


class ExperimentConfig(MeasuredConfig):
    rounds: int = Field(3, ge=0)
    loop: dict[str, Any] = Field(default_factory=lambda: {"method": "lmsi"})
    train: TrainConfig = TrainConfig()
    mitigations: MitigationConfig = MitigationConfig()
    review: ReviewConfig = ReviewConfig()

    @property
    def method(self) -> str:
        return self.loop.get("method", "lmsi")

    def loop_settings(self) -> BaseModel:
        """The loop's own typed config (its registry entry declares the class)."""
        from driftlab.loops import LOOPS

        entry = LOOPS.get(self.method)
        body = {k: v for k, v in self.loop.items() if k != "method"}
        return validate_section(entry.Config, body, "loop")

    def metric_names(self) -> list[str]:
        """Beside the monitors': the loop's declared columns, and the run's own bookkeeping
        columns (training, review, mitigation, audit), matched by prefix."""
        from driftlab.loops import LOOPS

        loop = [f"loop.{n}" for n in LOOPS.get(self.method).metric_names(self.loop_settings())]
        return super().metric_names() + loop + ["train.*", "review.*", "mitigate.*", "audit.*"]

    def check(self) -> Self:
        self.loop_settings()
        return super().check()


def load_config(path: str | Path | None = None, preset: str | None = None) -> ExperimentConfig:
    """Read and validate a run config file or a run preset; every problem is one ConfigError."""
    cfg, source = read_config(ExperimentConfig, path, preset, "run")
    try:
        return cfg.check()
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def list_presets() -> list[str]:
    """The run presets (presets/run/); `driftlab w2s` has its own (presets/w2s/)."""
    return presets.names("run")
