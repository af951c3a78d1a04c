"""Mitigations applied between a loop's selection and training, each recorded in the lineage.

The model-collapse literature compares what a generation trains on: only the newest
synthetic data (*replace*, Shumailov et al. 2024), everything generated so far
(*accumulate*, Gerstgrasser et al. 2024), or synthetic data mixed with a share of the
original human data (*replay*). Beside those: exact or near-duplicate removal, a
confidence floor on the loop's own confidence, and whether each round's adapter starts
from the previous round's model (the default: adapters stack) or from the base model,
as the collapse papers retrain every generation from the same initialisation.

`mix` is a pure function of stored artifacts and a seed, so a resumed run trains on
exactly the rows an uninterrupted run would, and the rows are stored beside the adapter.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from driftlab.errors import ConfigError
from driftlab.store import parse_jsonl_lines


class MitigationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: Literal["replace", "accumulate"] = Field(
        "replace", description="train on this round's rows, or on every promoted ancestor's too"
    )
    train_from: Literal["previous", "base"] = Field(
        "previous",
        description="stack the adapter on the parent model, or train it on the base model",
    )
    replay_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of the training set that is human data (0.1 = one row in ten)",
    )
    replay_source: str = Field(
        "task",
        description='"task" (the task\'s reference solutions) or a '
        "JSONL file of {prompt, completion} chat rows",
    )
    dedup: Literal["none", "exact", "embedding"] = Field(
        "none", description="drop rows whose completion repeats (exactly, or by MiniLM cosine)"
    )
    dedup_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description="cosine at or above which rows are near-duplicates (dedup = embedding)",
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="drop rows whose confidence is below"
    )
    confidence_field: str = Field(
        "vote_share", description="the row field holding the loop's confidence"
    )

    @property
    def active(self) -> bool:
        return self != MitigationConfig()


def completion_text(row: dict) -> str:
    """The text a row teaches: an SFT completion, or a DPO pair's chosen side."""
    target = row.get("completion") or row.get("chosen") or []
    return " ".join(m["content"] for m in target) if isinstance(target, list) else str(target)


def _key(row: dict) -> str:
    prompt = " ".join(m["content"] for m in row.get("prompt", []))
    return re.sub(r"\s+", " ", f"{prompt}\x00{completion_text(row)}").strip().lower()


def dedup_exact(rows: list[dict]) -> list[dict]:
    """First occurrence of each (prompt, completion), whitespace and case normalised."""
    seen: set[str] = set()
    out = []
    for r in rows:
        k = _key(r)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def dedup_embedding(
    rows: list[dict], threshold: float, embed: Callable[[list[str]], Any]
) -> list[dict]:
    """Greedy near-duplicate removal: keep a row unless within `threshold` cosine of a kept one."""
    import numpy as np

    if len(rows) < 2:
        return rows
    vecs = np.asarray(embed([completion_text(r) for r in rows]), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    kept: list[int] = []
    for i in range(len(rows)):
        if not kept or float((vecs[kept] @ vecs[i]).max()) < threshold:
            kept.append(i)
    return [rows[i] for i in kept]


def load_replay_file(path: str) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mitigations.replay_source: file not found: {p}")
    rows = []
    for where, row in parse_jsonl_lines(p.read_text("utf-8"), str(p)):
        if not (
            isinstance(row, dict)
            and isinstance(row.get("prompt"), list)
            and isinstance(row.get("completion"), list)
        ):
            raise ConfigError(f"{where}: a replay row needs chat lists 'prompt' and 'completion'")
        rows.append({"prompt": row["prompt"], "completion": row["completion"], "source": "replay"})
    if not rows:
        raise ConfigError(f"mitigations.replay_source: {p} holds no rows")
    return rows


def replay_count(n_model: int, fraction: float) -> int:
    """Human rows to add so that they make up `fraction` of the final set (at least one if > 0)."""
    if fraction <= 0 or n_model == 0:
        return 0
    return max(1, round(n_model * fraction / (1 - fraction)))


def mix(
    cfg: MitigationConfig,
    rows: list[dict],
    ancestors: list[list[dict]],
    replay_pool: list[dict],
    seed: int,
    embed: Callable[[list[str]], Any] | None = None,
) -> tuple[list[dict], dict[str, Any]]:
    """The training set of one round, and a record of what each mitigation did to it."""
    record: dict[str, Any] = {"loop_rows": len(rows)}
    data = list(rows)
    if cfg.min_confidence > 0:
        data = [r for r in data if float(r.get(cfg.confidence_field, 1.0)) >= cfg.min_confidence]
        record["dropped_low_confidence"] = len(rows) - len(data)
    if cfg.data == "accumulate":
        earlier = [r for rs in ancestors for r in rs]
        record["accumulated_rows"] = len(earlier)
        data = earlier + data
    before = len(data)
    if cfg.dedup == "exact":
        data = dedup_exact(data)
    elif cfg.dedup == "embedding":
        if embed is None:
            raise ConfigError("mitigations.dedup = 'embedding' needs an embedder")
        data = dedup_embedding(dedup_exact(data), cfg.dedup_threshold, embed)
    if cfg.dedup != "none":
        record["dropped_duplicates"] = before - len(data)
    n_replay = replay_count(len(data), cfg.replay_fraction)
    if n_replay:
        if not replay_pool:
            raise ConfigError("mitigations.replay_fraction > 0 but the replay source holds no rows")
        rng = random.Random(seed)
        picked = rng.sample(replay_pool, min(n_replay, len(replay_pool)))
        data = data + [{**r, "source": "replay"} for r in picked]
        record["replay_rows"] = len(picked)
    record["train_rows"] = len(data)
    return data, record
