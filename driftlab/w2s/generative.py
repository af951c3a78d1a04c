"""Generative fine-tuning before anything else (Burns et al. 2023, sec. 5.2.2, salience): a decoder
rung trained next-token on the task's unlabeled pool texts, so the concept is salient to it
before any classifier is built on its body."""

from __future__ import annotations

import torch

from driftlab import progress
from driftlab.w2s.config import GenerativeConfig
from driftlab.w2s.models import Rung, truncate


def generative_tune(rung: Rung, task: str, texts: list[str], cfg: GenerativeConfig) -> None:
    """Next-token training of a decoder on `texts` (the pool's: no labels, no test texts), then
    the classifier is built on the tuned body. Encoders are left as they are (no causal LM head)."""
    if rung.kind != "decoder":
        return
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(rung.info["path"], dtype=torch.float32)
    lm.config.use_cache = False
    tok = rung.tokenizer
    opt = torch.optim.AdamW(lm.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(0)
    lm.train()
    with progress.task(
        f"generative {rung.name} on {task}", total=cfg.steps, unit="steps"
    ) as advance:
        for _ in range(cfg.steps):
            pick = torch.randint(0, len(texts), (cfg.batch_size,), generator=gen).tolist()
            enc = tok(
                [texts[i] for i in pick],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=64,
            )
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            loss = lm(**enc, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            advance(1)
    base = truncate(lm.model, "decoder", rung.cfg.depth)
    base.config.use_cache = False
    rung.replace_base(base, f"generative:{task}:{cfg.model_dump_json()}")  # its own feature cache
