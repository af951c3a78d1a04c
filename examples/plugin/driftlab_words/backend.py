"""cpu:PATH: a transformers model folder, always on the CPU (a backend is a load and a check)."""

from pathlib import Path
from typing import Any

from driftlab.errors import DriftlabError
from driftlab.models import Backend
from driftlab.models.base import Generator


def check(rest: str) -> None:
    """Parse the spec and fail now, loading nothing (commands check every model first)."""
    if not (Path(rest) / "config.json").is_file():
        raise DriftlabError(f"cpu:{rest}: no model folder (config.json) there")


def load(rest: str, **options: Any) -> Generator:
    from driftlab.models.hf import HFModel  # torch: only once chosen

    return HFModel.load(rest, device="cpu")


BACKEND = Backend(load, check)
