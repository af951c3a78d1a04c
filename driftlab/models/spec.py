"""Model specs: a built-in name, a path, a hub id, a backend prefix (`openai:...`), or a run's
round (`runs/x@3`: the run's base model plus that round's lineage of adapters).

Every command that takes a model (diff, probes, judges) resolves it here, so a round of any
run can be compared, probed or used as a judge by the same name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from driftlab.errors import DriftlabError
from driftlab.models.base import Generator
from driftlab.store import read_json


def parse_spec(spec: str) -> tuple[str, list[Path]]:
    """(base model spec, adapters) for `runs/x@3`; (spec, []) for anything else."""
    run, at, rnd = spec.rpartition("@")
    if not at or not (Path(run) / "run.json").exists():
        if at and rnd.isdigit() and not Path(spec).exists():
            raise DriftlabError(f"{spec!r}: {run} holds no run (no run.json)")
        return spec, []
    if not rnd.isdigit():
        raise DriftlabError(f"{spec!r}: the round after '@' must be a number")
    root, k = Path(run), int(rnd)
    cfg = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    base = cfg.get("model", {}).get("name", "smollm2-135m-instruct")
    if k == 0:
        return base, []
    lineage = root / "rounds" / f"{k:03d}" / "lineage.json"
    if not lineage.exists():
        raise DriftlabError(f"{spec!r}: round {k} of {root} has no lineage.json (not trained yet?)")
    return base, [root / a for a in read_json(lineage)["adapters"]]


def load_model(spec: str, batch_size: int = 32) -> Generator:
    """Any model spec: built-in name, path, hub id, backend prefix, or `runs/x@k`."""
    base, adapters = parse_spec(spec)
    if adapters:
        from driftlab.models.hf import HFModel

        return HFModel.load(base, adapters=adapters, batch_size=batch_size)
    from driftlab.models import load_generator

    return load_generator(base, batch_size=batch_size)


def spec_identity(spec: str) -> dict:
    """What a model spec stands for, for cache keys: a run round is its adapters' files."""
    base, adapters = parse_spec(spec)
    stamp = [(str(a), (a / "adapter_model.safetensors").stat().st_mtime_ns
              if (a / "adapter_model.safetensors").exists() else None) for a in adapters]
    return {"spec": spec, "base": base, "adapters": stamp}


