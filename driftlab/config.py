"""The experiment config: TOML, validated by pydantic. Unknown keys are errors.

Method- and monitor-specific sections are validated against the config class their
registry entry declares, so a new loop brings its own settings and nothing here changes.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar, get_type_hints

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from driftlab.errors import ConfigError, DriftlabError
from driftlab.guard import GuardConfig
from driftlab.models.builtin import check_name
from driftlab.models.spec import check_model
from driftlab.review.settings import ReviewConfig
from driftlab.train.mitigations import MitigationConfig

if TYPE_CHECKING:
    from driftlab.monitors.base import MonitorConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_device(device: str) -> str:
    """A torch device this machine has, checked at config load rather than mid-run in torch."""
    m = re.fullmatch(r"auto|cpu|mps|cuda(?::(\d+))?", device)
    if m is None:
        raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(
                f"this torch build ({torch.__version__}) sees no CUDA GPU; use auto or cpu"
            )
        if m[1] is not None and int(m[1]) >= count:
            raise ValueError(f"there are {count} CUDA GPUs (cuda:0 to cuda:{count - 1})")
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ValueError("this machine has no MPS (Apple GPU) device; use auto or cpu")
    return device


Device = Annotated[str, AfterValidator(check_device)]


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
        """Each enabled monitor's typed config: defaults unless the config names it."""
        from driftlab.monitors import MONITORS

        out: dict[str, MonitorConfig] = {}
        for name in MONITORS.names():
            body = dict(self.monitors.get(name, {}))
            cfg = _validate(MONITORS.get(name).Config, body, f"monitors.{name}")
            if cfg.enabled:
                out[name] = cfg
        for name in self.monitors:
            MONITORS.get(name)  # unknown monitor names are errors
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

    def build_task(self):
        from driftlab.tasks import TASKS

        factory = TASKS.get(self.task.name)
        return build_from_settings(
            factory, self.task.settings(), "task", extra_keys=("name", "train_size", "eval_size")
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
        return _validate(entry.Config, body, "loop")

    def metric_names(self) -> list[str]:
        """Beside the monitors': the loop's declared columns, and the run's own bookkeeping
        columns (training, review, mitigation, audit), matched by prefix."""
        from driftlab.loops import LOOPS

        loop = [f"loop.{n}" for n in LOOPS.get(self.method).metric_names(self.loop_settings())]
        return super().metric_names() + loop + ["train.*", "review.*", "mitigate.*", "audit.*"]

    def check(self) -> Self:
        self.loop_settings()
        return super().check()


def build_from_settings(factory, settings: dict[str, Any], where: str, extra_keys=()):
    """Call a registered factory with config settings, validated against its signature.

    The signature becomes a pydantic model (unknown keys forbidden), so a task or other
    factory declares its settings once, as ordinary keyword arguments with type hints.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = get_type_hints(target)
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(factory).parameters.items():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            default = ... if p.default is p.empty else p.default
            fields[name] = (hints.get(name, Any), default)
    model = create_model(f"{where}_settings", __config__=ConfigDict(extra="forbid"), **fields)
    try:
        valid = model.model_validate(settings)
    except ValidationError as e:
        raise ConfigError(format_errors(e, where, allowed=[*extra_keys, *fields])) from None
    return factory(**{k: getattr(valid, k) for k in settings})


M = TypeVar("M", bound=BaseModel)


def _validate(cls: type[M], body: dict[str, Any], where: str) -> M:
    try:
        return cls.model_validate(body)
    except ValidationError as e:
        raise ConfigError(format_errors(e, where, cls)) from None


def format_errors(
    err: ValidationError,
    prefix: str = "",
    cls: type[BaseModel] | None = None,
    allowed: list[str] | None = None,
) -> str:
    """One line per problem, each naming the dotted key and what is allowed."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(e["loc"]))
        if e["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            keys = allowed if allowed is not None else _allowed_keys(cls, e["loc"][:-1])
            hint = f"; allowed keys: {', '.join(keys)}" if keys else ""
            lines.append(f"{loc}: unknown key{hint}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg} (got {e.get('input')!r})")
    return "invalid config:\n  " + "\n  ".join(lines)


def _allowed_keys(cls: type[BaseModel] | None, path: tuple) -> list[str]:
    if cls is None:
        return []
    for part in path:
        field = cls.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = ann
    return list(cls.model_fields)


def read_config(
    cls: type[BaseModel], path: str | Path | None, preset: str | None, presets: list[str]
) -> tuple[Any, str]:
    """(validated `cls`, its origin) from a TOML file or a shipped preset named in `presets`."""
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
        text = resources.files("driftlab.presets").joinpath(f"{preset}.toml").read_text()
        source = f"preset {preset}"
    elif path is None:
        raise ConfigError("give a config file or a preset")
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        text, source = p.read_text(), str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    try:
        return cls.model_validate(data), source
    except ValidationError as e:
        raise ConfigError(f"{source}: " + format_errors(e, cls=cls)) from None


def load_config(path: str | Path | None = None, preset: str | None = None) -> ExperimentConfig:
    if preset is not None and preset.startswith("w2s-"):
        raise ConfigError(
            f"{preset} is a weak-to-strong preset: run it with driftlab w2s --preset {preset}"
        )
    cfg, source = read_config(ExperimentConfig, path, preset, list_presets())
    try:
        return cfg.check()
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def list_presets() -> list[str]:
    root = resources.files("driftlab.presets")
    # w2s-*.toml are `driftlab w2s` configs (driftlab/w2s/config.py), not loop experiments
    return sorted(
        p.name[:-5]
        for p in root.iterdir()
        if p.name.endswith(".toml") and not p.name.startswith("w2s-")
    )


def dump_config(cfg: BaseModel) -> str:
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
