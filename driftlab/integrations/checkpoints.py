"""A trainer's checkpoint folders: which exist, which are completely written, what they hold.

transformers' Trainer (and so TRL) writes `checkpoint-STEP/` with the weights first and
trainer_state.json last, so that file marks a finished checkpoint. Trainers that write no
such marker are read once their files have stayed unchanged for `settle_s` seconds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from driftlab.errors import DriftlabError
from driftlab.store import read_json

MARKER = "trainer_state.json"
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
# Config keys that must match for a checkpoint to be the same architecture as round 0.
SHAPE_KEYS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
)


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_adapter(self) -> bool:
        return (self.path / "adapter_config.json").is_file()

    def state(self) -> dict:
        """trainer_state.json ({} if the trainer writes none)."""
        f = self.path / MARKER
        return read_json(f) if f.is_file() else {}


def find(folder: Path, pattern: str) -> list[Checkpoint]:
    """Checkpoint folders matching `pattern`, by step (the first number in the relative path)."""
    out = []
    for p in Path(folder).glob(pattern):
        m = re.search(r"\d+", str(p.relative_to(folder)))
        if p.is_dir() and m:
            out.append(Checkpoint(p, int(m.group())))
    return sorted(out, key=lambda c: c.step)


class Completion:
    """Tells finished checkpoints from ones still being written, across polls."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._seen: dict[Path, tuple[tuple, float]] = {}  # path -> (file snapshot, since when)

    def ready(self, c: Checkpoint) -> bool:
        if (c.path / MARKER).is_file():
            return True
        try:
            snap = tuple(
                sorted(
                    (f.name, f.stat().st_size, f.stat().st_mtime_ns)
                    for f in c.path.iterdir()
                    if f.is_file()
                )
            )
        except FileNotFoundError:  # deleted (e.g. save_total_limit) while we looked
            return False
        if not any(name in WEIGHTS for name, *_ in snap):
            return False
        now = time.monotonic()
        old, since = self._seen.get(c.path, (None, now))
        if old != snap:
            self._seen[c.path] = (snap, now)
            return self.settle_s == 0
        return now - since >= self.settle_s


def model_config(path: str | Path) -> dict:
    f = Path(path) / "config.json"
    return read_json(f) if f.is_file() else {}


def check_architecture(c: Checkpoint, reference: dict, what: str) -> None:
    """A full-weights checkpoint must have round 0's shape (`reference`: its config.json)."""
    if c.is_adapter or not reference:
        return
    cfg = model_config(c.path)
    if not cfg:
        raise DriftlabError(f"{c.path} holds no config.json: not a transformers checkpoint")
    diff = [
        f"{k} {cfg.get(k)} vs {reference.get(k)}"
        for k in SHAPE_KEYS
        if k in reference and cfg.get(k) != reference.get(k)
    ]
    if diff:
        raise DriftlabError(f"{c.path} is another architecture than {what}: {', '.join(diff)}")
