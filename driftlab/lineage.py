"""Lineage: which adapters, stacked on the base model in order, make round k's model.

Round k's lineage.json names its parent (the promoted round it was trained from) and its
adapters; round 0 is the base model alone. The engine writes it after training; the engine
on resume, mitigations (`accumulate` reads the ancestors' rows) and model specs
(`runs/x@3`) read it, all through this one object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from driftlab.models.base import Generator
from driftlab.store import ADAPTER, LINEAGE, RunStore, read_json, write_json

DEFAULT_BASE = "smollm2-135m-instruct"  # config.ModelConfig's default name


class AdaptableModel(Generator, Protocol):
    """A model that a trainer trains and that carries each round's adapter merged in."""

    def merge_adapter(self, adapter: str | Path) -> None: ...


def load_adapted(
    base: str, adapters: Sequence[Path] = (), device: str = "auto", batch_size: int = 32
) -> AdaptableModel:
    """`base` with `adapters` merged in order; training and adapters need transformers."""
    from driftlab.models.hf import HFModel

    return HFModel.load(base, adapters=list(adapters), device=device, batch_size=batch_size)


@dataclass
class Lineage:
    """The lineage of every round of one run directory. `base`: the base model's spec
    (default: the one config.toml names)."""

    store: RunStore
    base: str | None = None

    def base_model(self) -> str:
        if self.base is None:
            self.base = self.store.config().get("model", {}).get("name", DEFAULT_BASE)
        return self.base

    def has(self, k: int) -> bool:
        """Whether round k's model exists (round 0, or a round whose training finished)."""
        return k == 0 or self.store.has(k, LINEAGE)

    def _entry(self, k: int) -> dict[str, Any]:
        return read_json(self.store.artifact(k, LINEAGE))

    def adapters(self, k: int) -> list[Path]:
        """The adapters stacked on the base, in order, to make round k's model."""
        return [] if k == 0 else [self.store.root / a for a in self._entry(k)["adapters"]]

    def parent(self, k: int) -> int:
        return int(self._entry(k)["parent"])

    def ancestry(self, head: int) -> list[int]:
        """The promoted rounds that led to `head`, oldest first (0, the base, is left out)."""
        chain = []
        while head > 0:
            chain.append(head)
            head = self.parent(head)
        return chain[::-1]

    def adapter(self, k: int) -> Path:
        """Where round k's own adapter is (or will be) saved."""
        return self.store.artifact(k, ADAPTER)

    def stack(self, parent: int, from_base: bool) -> list[Path]:
        """The adapters a round trained from `parent` stacks its own on (none from the base)."""
        return [] if from_base else self.adapters(parent)

    def record(self, k: int, parent: int, from_base: bool, mitigations: dict[str, Any]) -> None:
        """Write round k's lineage.json, once its adapter is saved: it marks the round's
        model as made (trained from `parent`'s model, or from the base when `from_base`)."""
        adapters = [*self.stack(parent, from_base), self.adapter(k)]
        entry = {
            "parent": parent,
            "adapters": [str(p.relative_to(self.store.root)) for p in adapters],
            "train_from": "base" if from_base else f"round {parent}",
            "mitigations": mitigations,
        }
        write_json(self.store.artifact(k, LINEAGE), entry)

    def load(self, k: int, device: str = "auto", batch_size: int = 32) -> AdaptableModel:
        """Round k's model: the base with its lineage merged."""
        return load_adapted(self.base_model(), self.adapters(k), device, batch_size)
