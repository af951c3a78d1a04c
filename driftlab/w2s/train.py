"""Train one classifier and watch it: test and validation probabilities at every evaluation.

A short PyTorch loop rather than transformers' Trainer: the losses need the fraction of
training done at each step (the confidence warm-up), and the accuracy-over-training curves
and early-stopping criteria need predictions several times per epoch on cached features.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from driftlab import progress
from driftlab.errors import DriftlabError
from driftlab.w2s.config import TrainConfig
from driftlab.w2s.losses import LossFn
from driftlab.w2s.models import Classifier, Features


@dataclass
class FitResult:
    checkpoints: list[dict]  # {"epoch": float, "probs": {set name: [P(class 1), ...]}}
    losses: list[float]
    seconds: float

    def final(self, name: str) -> np.ndarray:
        return np.asarray(self.checkpoints[-1]["probs"][name])


@torch.no_grad()
def predict(model: Classifier, feats: Features, idx: list[int], batch_size: int = 64) -> np.ndarray:
    """P(class 1) for the items `idx`."""
    model.eval()
    out = []
    for s in range(0, len(idx), batch_size):
        out.append(torch.softmax(model(feats.batch(idx[s : s + batch_size])), -1)[:, 1])
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0)


def fit(
    model: Classifier,
    feats: Features,
    train_idx: list[int],
    targets: np.ndarray,
    loss_fn: LossFn,
    cfg: TrainConfig,
    seed: int,
    eval_sets: dict[str, list[int]],
    desc: str = "train",
    final_sets: dict[str, list[int]] | None = None,
    curve: bool = True,
) -> FitResult:
    """Train on (train_idx, targets = P(class 1)); evaluate `eval_sets` each 1/evals_per_epoch epoch
    (only at the end without `curve`), and `final_sets` too at the end."""
    if len(train_idx) != len(targets):
        raise ValueError("one target per training item")
    if len(train_idx) < 2:
        raise DriftlabError(f"{desc}: fewer than 2 training items (raise data.n_a / data.n_b)")
    model.calibrate(feats, train_idx)
    gen = torch.Generator().manual_seed(seed)
    targets_t = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    total = max(1, round(cfg.epochs * steps_per_epoch))
    eval_every = max(1, round(steps_per_epoch / cfg.evals_per_epoch))
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.learning_rate}, {"params": head, "lr": cfg.head_learning_rate}],
        weight_decay=cfg.weight_decay,
    )
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_frac * total), total)
    start = time.perf_counter()
    checkpoints, losses, step = [], [], 0
    model.train()
    with progress.task(desc, total=total, unit="steps") as advance:
        while step < total:
            order = torch.randperm(len(train_idx), generator=gen).tolist()
            for s in range(0, len(order), cfg.batch_size):
                if step >= total:
                    break
                pos = order[s : s + cfg.batch_size]
                if len(pos) < 2:  # a batch of one has no quantile to harden at
                    continue
                logits = model(feats.batch([train_idx[i] for i in pos]))
                loss = loss_fn(logits, targets_t[pos], step / total)
                opt.zero_grad()
                loss.backward()
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                step += 1
                losses.append(loss.item())
                advance(1)
                if (curve and step % eval_every == 0) or step == total:
                    sets = {**eval_sets, **(final_sets or {})} if step == total else eval_sets
                    checkpoints.append(
                        {
                            "epoch": round(step / steps_per_epoch, 4),
                            "probs": {
                                k: predict(model, feats, v).round(5).tolist()
                                for k, v in sets.items()
                            },
                        }
                    )
    return FitResult(checkpoints, losses, time.perf_counter() - start)
