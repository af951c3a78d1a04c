"""Prompts, model specs (`runs/x@3` included) and sampling both models.

A text record is {model, prompt_id, category, prompt, sample, text, num_tokens}. Prompts are
split by prompt (never by text) into a labeling half and a held-out half, so a label is
always validated on prompts it was not written from.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np

from driftlab.errors import DriftlabError
from driftlab.models.base import Completion, Generator, SamplingParams
from driftlab.models.spec import load_model, parse_spec, spec_identity  # noqa: F401  (pipeline and tests use them from here)
from driftlab.store import parse_jsonl_lines

SHIPPED = "diff_prompts.jsonl"


def load_prompts(path: str | None) -> tuple[list[dict], str]:
    """[{id, category, prompt}] and the file's sha256; `path` None = the shipped set."""
    if path is None:
        text = (
            resources.files("driftlab.data")
            .joinpath("prompts", SHIPPED)
            .read_text(encoding="utf-8")
        )
        where = SHIPPED
    else:
        p = Path(path)
        if not p.is_file():
            raise DriftlabError(f"prompt file {path} does not exist")
        text, where = p.read_text(encoding="utf-8"), str(p)
    rows: list[dict] = []
    seen: set[str] = set()
    for loc, obj in parse_jsonl_lines(text, where):
        prompt = obj.get("prompt", obj.get("instruction")) if isinstance(obj, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise DriftlabError(f"{loc}: needs a non-empty string field 'prompt'")
        pid = str(obj.get("id", f"p{len(rows):04d}"))
        if pid in seen:
            raise DriftlabError(f"{loc}: duplicate id {pid!r}")
        seen.add(pid)
        rows.append({"id": pid, "category": str(obj.get("category", "none")), "prompt": prompt})
    if len(rows) < 4:
        raise DriftlabError(
            f"{where}: {len(rows)} prompts; a diff needs at least 4 (several hundred is better)"
        )
    return rows, hashlib.sha256(text.encode()).hexdigest()[:16]


def subset(prompts: list[dict], max_prompts: int | None, seed: int) -> list[dict]:
    if max_prompts is None or max_prompts >= len(prompts):
        return prompts
    keep = np.random.default_rng(seed).choice(len(prompts), size=max_prompts, replace=False)
    return [prompts[i] for i in sorted(keep)]


def split_by_prompt(prompt_ids: list[str], heldout_fraction: float, seed: int) -> set[str]:
    """The held-out prompt ids: a seeded share of prompts, at least one on each side."""
    ids = sorted(set(prompt_ids))
    order = np.random.default_rng(seed + 7919).permutation(len(ids))
    n_held = min(len(ids) - 1, max(1, round(len(ids) * heldout_fraction)))
    return {ids[i] for i in order[:n_held]}


def sample_texts(
    model: Generator,
    prompts: list[dict],
    samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    who: str,
) -> list[dict]:
    chats = [[{"role": "user", "content": p["prompt"]}] for p in prompts]
    params = SamplingParams(
        n=samples, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
    )
    outs = model.generate(chats, params, desc=f"diff: sampling model {who.upper()}")
    return records(who, prompts, outs)


def records(who: str, prompts: list[dict], outs: list[list[Completion]], **extra) -> list[dict]:
    """One text record per sample (docs/artifacts-diff.md), what every later diff step reads."""
    return [
        {
            "model": who,
            "prompt_id": p["id"],
            "category": p["category"],
            "prompt": p["prompt"],
            "sample": j,
            "text": c.text,
            "num_tokens": c.num_tokens,
            **extra,
        }
        for p, comps in zip(prompts, outs, strict=True)
        for j, c in enumerate(comps)
    ]
