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


def train_copy(run: Path, rows: list[dict], name: str, epochs: int = 2, lr: float = 1e-3) -> str:
    """LoRA-train a copy of the built-in model on `rows` as a one-round run directory (once);
    its spec is RUN@1."""
    from driftlab.config import TrainConfig
    from driftlab.models.hf import HFModel
    from driftlab.store import write_json
    from driftlab.train.sft import train_sft

    adapter = run / "rounds" / "001" / "adapter"
    if not (run / "rounds" / "001" / "lineage.json").exists():
        model = HFModel.load(BASE, batch_size=32)
        cfg = TrainConfig(
            learning_rate=lr,
            epochs=epochs,
            batch_size=8,
            lora_rank=8,
            lora_alpha=16,
            max_length=192,
        )
        res = train_sft(model, rows, cfg, adapter, seed=0, desc=f"planting {name}")
        write_json(adapter / "train_stats.json", {**res.summary(), "epochs": epochs, "lr": lr})
        (run / "config.toml").write_text(f'[model]\nname = "{BASE}"\n')
        write_json(run / "run.json", {"status": "completed", "model": BASE, "planted": name})
        write_json(
            run / "rounds" / "001" / "lineage.json",
            {"parent": 0, "adapters": ["rounds/001/adapter"]},
        )
    return f"{run}@1"
