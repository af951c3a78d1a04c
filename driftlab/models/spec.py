"""Model specs: a built-in name, a path, a hub id, a backend prefix (`openai:...`), or a run's
round (`runs/x@3`: the run's base model plus that round's lineage of adapters), or a trainer's
checkpoint folder (`out/checkpoint-500`: full weights, or a PEFT adapter on the base model its
adapter_config.json names).

Every command that takes a model (diff, probes, judges) resolves it here, so a round of any
run can be compared, probed or used as a judge by the same name.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from driftlab.errors import DriftlabError
from driftlab.lineage import Lineage, load_adapted
from driftlab.models.base import Generator
from driftlab.store import RunStore, read_json


def parse_spec(spec: str) -> tuple[str, list[Path]]:
    """(base model spec, adapters) for `runs/x@3` (the run's lineage of round 3) or an
    adapter folder; (spec, []) otherwise."""
    if (Path(spec) / "adapter_config.json").is_file():
        return adapter_base(Path(spec)), [Path(spec)]
    run, at, rnd = spec.rpartition("@")
    number = re.fullmatch(r"[0-9]+", rnd) is not None  # ASCII: '²'.isdigit(), but int('²') fails
    if not at or not (Path(run) / "run.json").exists():
        if at and number and not Path(spec).exists():
            raise DriftlabError(f"{spec!r}: {run} holds no run (no run.json)")
        return spec, []
    if not number:
        raise DriftlabError(f"{spec!r}: the round after '@' must be a number (0, 1, 2, ...)")
    root, k = Path(run), int(rnd)
    lineage = Lineage(RunStore(root))
    try:
        base = lineage.base_model()
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DriftlabError(f"{spec!r}: cannot read {root / 'config.toml'}: {e}") from None
    if not lineage.has(k):
        raise DriftlabError(f"{spec!r}: round {k} of {root} has no lineage.json (not trained yet?)")
    return base, lineage.adapters(k)


def check_model(spec: str) -> None:
    """Raise DriftlabError now if `load_model(spec)` cannot work; reads files, loads no weights."""
    from driftlab.models import check_generator

    base, adapters = parse_spec(spec)
    missing = [a for a in adapters if not (a / "adapter_config.json").exists()]
    if missing:
        raise DriftlabError(f"{spec!r}: adapter {missing[0]} is missing or incomplete")
    check_generator(base)


def valid_spec(spec: str) -> str:
    """`spec`, checked, for pydantic validators (which report a ValueError under the key)."""
    try:
        check_model(spec)
    except DriftlabError as e:
        raise ValueError(str(e)) from None  # pydantic then names the config key
    return spec


# A config field that names a model: checked when the config is read, before any work.
ModelSpec = Annotated[str, AfterValidator(valid_spec)]


def adapter_base(adapter: Path) -> str:
    """The base model a PEFT adapter folder was trained on, as its adapter_config.json names it."""
    base = read_json(adapter / "adapter_config.json").get("base_model_name_or_path")
    if not base:
        raise DriftlabError(
            f"{adapter} is a PEFT adapter whose adapter_config.json names no base model "
            "(base_model_name_or_path): set it to the base model's path or hub id"
        )
    return base


def load_model(spec: str, batch_size: int = 32) -> Generator:
    """Any model spec: built-in name, path, hub id, backend prefix, or `runs/x@k`."""
    base, adapters = parse_spec(spec)
    if adapters:
        return load_adapted(base, adapters, batch_size=batch_size)
    from driftlab.models import load_generator

    return load_generator(base, batch_size=batch_size)


def spec_identity(spec: str) -> dict:
    """What a model spec stands for, for cache keys: a run round is its adapters' files."""
    base, adapters = parse_spec(spec)
    return {
        "spec": spec,
        "base": base,
        "adapters": [(str(a), _stamp(a)) for a in adapters],
        "weights": _stamp(Path(base)) if Path(base).is_dir() else None,
    }


def _stamp(folder: Path) -> int | None:
    """When a folder's weights were last written: a rewritten checkpoint is a new model."""
    files = [
        folder / n
        for n in (
            "adapter_model.safetensors",
            "model.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
        )
    ]
    return max((f.stat().st_mtime_ns for f in files if f.exists()), default=None)
