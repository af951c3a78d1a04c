"""What every driftlab config is built from: the strict `Section`, devices, reading and dumping.

Runs (config.py), `driftlab watch` (integrations/settings.py) and `driftlab w2s`
(w2s/config.py) each declare their own sections on top of these, so a TOML file is read,
validated, reported on and written back the same way everywhere. This module sits below
config.py and train/, which both build on it.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    create_model,
)

from driftlab.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

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


def validate_section(cls: type[M], body: dict[str, Any], where: str) -> M:
    """`body` as a `cls`, every problem one ConfigError naming `where`'s dotted keys."""
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
    cls: type[BaseModel], path: str | Path | None, preset: str | None, kind: str
) -> tuple[Any, str]:
    """(validated `cls`, where it came from) from a TOML file or a shipped preset of `kind`."""
    if preset is not None:
        from driftlab import presets

        text, source = presets.read(kind, preset)
    else:
        if path is None:
            raise ConfigError("give a CONFIG file or --preset NAME (one of them)")
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


def dump_config(cfg: BaseModel) -> str:
    """The config as TOML, every default written out, so a run records what it ran with."""
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
