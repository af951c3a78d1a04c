"""Shared pieces of the diff benchmarks: settings sized for a 2-core CPU, base samples."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DRIFTLAB_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASE = "smollm2-135m-instruct"


def settings(**over):
    from driftlab.diff import DiffSettings

    body = dict(
        max_prompts=180,
        samples=1,
        max_new_tokens=40,
        labels_per_cluster=2,
        max_labeled=4,
        max_pairs=20,
        permutations=1000,
        seed=0,
    )
    return DiffSettings(**{**body, **over})


def base_samples(model, s, seed: int, path: Path, who: str = "a") -> list[dict]:
    """The base model's texts on the diff prompts for one sampling seed, cached as JSONL."""
    from driftlab.diff import sampling
    from driftlab.store import read_jsonl, write_jsonl

    if path.exists():
        return [{**r, "model": who} for r in read_jsonl(path)]
    prompts, _ = sampling.load_prompts(s.prompts)
    prompts = sampling.subset(prompts, s.max_prompts, s.seed)
    rows = sampling.sample_texts(
        model, prompts, s.samples, s.temperature, s.top_p, s.max_new_tokens, seed, who
    )
    write_jsonl(path, rows)
    return rows
