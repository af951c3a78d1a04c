"""Losses for training a student on weak soft labels (Burns et al. 2023, sec. 4.3.2 and app. A).

Every loss takes the student's logits [B, 2], the weak labels as P(class 1) [B] and the
fraction of training done, and returns a scalar. Targets built from the student's own
predictions are detached: they are labels, not paths for gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from driftlab.w2s.config import LossConfig

LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def soft_ce(logits: torch.Tensor, target1: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets: -(t log p1 + (1 - t) log p0), batch mean."""
    target = torch.stack([1 - target1, target1], dim=-1)
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def xent(logits: torch.Tensor, weak1: torch.Tensor, step_frac: float = 0.0) -> torch.Tensor:
    """The baseline: imitate the weak soft labels."""
    return soft_ce(logits, weak1)


def warmup(step_frac: float, c_max: float, warmup_frac: float) -> float:
    """c rises from 0 to c_max over the first `warmup_frac` of training along a smoothstep,
    continuous with a continuous slope; the reference code's schedule jumps, which jolts training.
    """
    s = min(max(step_frac / warmup_frac, 0.0), 1.0)
    return c_max * s * s * (3 - 2 * s)


def harden_balanced(p1: torch.Tensor, positive_rate: float) -> torch.Tensor:
    """The student's predictions made hard at the batch quantile that gives them the weak labels'
    positive rate: the round(rate * B) most positive items are 1, the rest 0 (ties by order)."""
    k = int(round(positive_rate * p1.shape[0]))
    hard = torch.zeros_like(p1)
    if k > 0:
        hard[torch.topk(p1, k).indices] = 1.0
    return hard


def confidence_loss(c_max: float = 0.75, warmup_frac: float = 0.2) -> LossFn:
    """The auxiliary confidence loss L = CE(p, (1 - c) * y_weak + c * y_hat) (eq. 1): the student
    may overrule the supervisor where it has become confident, which is what lets it generalise
    beyond labels it could otherwise just imitate."""

    def loss(logits: torch.Tensor, weak1: torch.Tensor, step_frac: float) -> torch.Tensor:
        c = warmup(step_frac, c_max, warmup_frac)
        p1 = torch.softmax(logits, dim=-1)[:, 1].detach()
        y_hat = harden_balanced(p1, float((weak1 > 0.5).float().mean()))
        return soft_ce(logits, (1 - c) * weak1 + c * y_hat)

    return loss


def product_loss(alpha: float = 1.0, beta: float = 1.0) -> LossFn:
    """The product loss: CE against p_weak^alpha * p_student^beta, renormalised (the paper's
    appendix alternative; the student's own belief reweights the weak label)."""

    def loss(logits: torch.Tensor, weak1: torch.Tensor, step_frac: float) -> torch.Tensor:
        weak = torch.stack([1 - weak1, weak1], dim=-1).clamp(min=1e-8)
        target = weak.pow(alpha) * torch.softmax(logits, dim=-1).detach().pow(beta)
        target = target / target.sum(-1, keepdim=True)
        return soft_ce(logits, target[:, 1])

    return loss


def make_loss(name: str, cfg: LossConfig) -> LossFn:
    if name == "xent":
        return xent
    if name == "confidence":
        return confidence_loss(cfg.confidence_max, cfg.warmup_frac)
    if name == "product":
        return product_loss(cfg.product_alpha, cfg.product_beta)
    raise ValueError(name)
