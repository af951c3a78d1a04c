"""Weak-to-strong math: PGR, bootstrap intervals, agreement, early stopping and every loss,
each on a case small enough to compute by hand."""

import math

import numpy as np
import pytest
import torch

from driftlab.w2s.losses import (
    confidence_loss,
    harden_balanced,
    product_loss,
    soft_ce,
    warmup,
    xent,
)
from driftlab.w2s.metrics import bootstrap, pgr, stopping_points, summarize

# ---- PGR -----------------------------------------------------------------------------------------


def test_pgr_hand_cases():
    assert pgr(0.6, 0.7, 0.9) == pytest.approx(1 / 3)
    assert pgr(0.6, 0.6, 0.9) == 0.0  # pure imitation
    assert pgr(0.6, 0.9, 0.9) == pytest.approx(1.0)  # full recovery
    assert pgr(0.6, 0.5, 0.9) == pytest.approx(
        -1 / 3
    )  # worse than the supervisor: negative, not clipped
    assert pgr(0.7, 0.8, 0.7) is None  # no gap to recover
    assert pgr(0.8, 0.9, 0.6) is None  # the ceiling is below its supervisor: nothing to recover
    assert pgr(0.70, 0.71, 0.71, min_gap=0.02) is None  # a 1-point gap: the ratio would be noise
    assert pgr(0.70, 0.71, 0.72, min_gap=0.02) == pytest.approx(0.5)


def test_summarize_by_hand():
    # 1 seed, 4 test items. weak right on 0,1; student right on 0,1,2; ceiling right on all.
    y_w = np.array([[1, 1, 0, 0]])
    y_s = np.array([[1, 1, 1, 0]])
    y_c = np.array([[1, 1, 1, 1]])
    agree = np.array([[1, 0, 0, 1]])  # student agrees with supervisor on items 0 and 3
    out = summarize(y_w, y_s, y_c, agree, resamples=200)
    assert out["weak_acc"]["mean"] == 0.5 and out["student_acc"]["mean"] == 0.75
    assert out["pgr"]["mean"] == pytest.approx((0.75 - 0.5) / (1.0 - 0.5))
    assert out["agreement"]["all"]["mean"] == 0.5
    assert out["agreement"]["supervisor_right"]["mean"] == 0.5  # items 0, 1: agrees on 0
    assert out["agreement"]["supervisor_wrong"]["mean"] == 0.5  # items 2, 3: agrees on 3


def test_bootstrap_interval_brackets_the_estimate_and_resamples_seeds():
    rng = np.random.default_rng(0)
    x = (rng.random((3, 200)) < 0.7).astype(float)
    out = bootstrap(lambda x: x.mean(), {"x": x}, resamples=500)
    lo, hi = out["ci"]
    assert lo < out["mean"] < hi and hi - lo < 0.15
    const = bootstrap(lambda x: x.mean(), {"x": np.ones((2, 10))}, resamples=200)
    assert const == {"mean": 1.0, "ci": [1.0, 1.0]}
    # seeds that disagree widen the interval even when each seed is internally constant
    split = np.vstack([np.ones(50), np.zeros(50)])
    assert (
        bootstrap(lambda x: x.mean(), {"x": split}, resamples=400)["ci"][1]
        - bootstrap(lambda x: x.mean(), {"x": split}, resamples=400)["ci"][0]
        > 0.5
    )


def test_bootstrap_pgr_undefined_gives_null_not_nan():
    same = np.ones((1, 20))
    out = bootstrap(
        lambda w, s, c: pgr(w.mean(), s.mean(), c.mean()), {"w": same, "s": same, "c": same}, 200
    )
    assert out == {"mean": None, "ci": None}


def test_stopping_points_pick_what_each_criterion_says():
    y = np.array([1, 0, 1, 0])
    ck = lambda test, val: {"epoch": 0, "probs": {"test": test, "val": val}}  # noqa: E731
    checkpoints = [
        ck([0.9, 0.1, 0.9, 0.1], [0.6, 0.4]),  # test acc 1.0: the oracle's pick
        ck([0.9, 0.9, 0.9, 0.9], [0.99, 0.01]),  # most confident on val, closest to weak labels
        ck([0.1, 0.9, 0.1, 0.9], [0.99, 0.01]),  # no val prediction flipped since the previous one
    ]
    pts = stopping_points(checkpoints, y, val_weak=np.array([1.0, 0.0]))
    assert pts["oracle"] == 0 and pts["last"] == 2
    assert pts["weak_val_loss"] == 1 and pts["val_confidence"] == 1
    assert pts["prediction_stability"] == 1  # first with zero flips (ties go to the earliest)


# ---- losses --------------------------------------------------------------------------------------


def test_soft_ce_and_xent_by_hand():
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])  # p1 = 0.5, 0.75
    t = torch.tensor([0.3, 1.0])
    expected = (-(0.3 * math.log(0.5) + 0.7 * math.log(0.5)) - math.log(0.75)) / 2
    assert soft_ce(logits, t).item() == pytest.approx(expected, rel=1e-6)
    assert xent(logits, t, 0.9).item() == pytest.approx(expected, rel=1e-6)


def test_harden_balanced_matches_the_weak_positive_rate():
    p1 = torch.tensor([0.2, 0.9, 0.4, 0.6])
    assert harden_balanced(p1, 0.5).tolist() == [0, 1, 0, 1]
    assert harden_balanced(p1, 0.25).tolist() == [0, 1, 0, 0]
    assert harden_balanced(p1, 0.0).tolist() == [0, 0, 0, 0]
    # even when every prediction says "positive", only the weak labels' share is hardened to 1
    assert harden_balanced(torch.tensor([0.7, 0.8, 0.9, 0.95]), 0.5).tolist() == [0, 0, 1, 1]


def test_confidence_loss_by_hand_after_warmup():
    # p1 = 0.5, 0.75 -> hardened at the weak positive rate 1/2: y_hat = [0, 1]; c = c_max = 0.5
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    weak = torch.tensor([0.8, 0.2])
    loss = confidence_loss(c_max=0.5, warmup_frac=0.2)(logits, weak, 0.5).item()
    t = [0.5 * 0.8 + 0.5 * 0, 0.5 * 0.2 + 0.5 * 1]  # 0.4, 0.6
    expected = (
        -(t[0] * math.log(0.5) + (1 - t[0]) * math.log(0.5))
        - (t[1] * math.log(0.75) + (1 - t[1]) * math.log(0.25))
    ) / 2
    assert loss == pytest.approx(expected, rel=1e-6)
    # at the start c = 0: exactly the cross-entropy on weak labels
    assert confidence_loss(0.5, 0.2)(logits, weak, 0.0).item() == pytest.approx(
        xent(logits, weak).item()
    )


def test_confidence_targets_are_labels_not_gradient_paths():
    logits = torch.tensor([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], requires_grad=True)
    weak = torch.tensor([0.9, 0.1, 0.6])
    confidence_loss(1.0, 0.1)(logits, weak, 1.0).backward()
    assert logits.grad is not None
    g = logits.grad.clone()
    fixed = logits.detach().clone().requires_grad_(True)
    p1 = torch.softmax(fixed, -1)[:, 1].detach()
    soft_ce(fixed, harden_balanced(p1, 2 / 3)).backward()  # c = 1: target is y_hat only
    assert fixed.grad is not None and torch.allclose(g, fixed.grad)


def test_warmup_is_smooth_and_reaches_its_maximum():
    steps = 1000
    c = np.array([warmup(i / steps, 0.75, 0.2) for i in range(steps + 1)])
    assert c[0] == 0 and c[200] == pytest.approx(0.75) and (c[200:] == pytest.approx(0.75))
    d = np.diff(c)
    assert (d >= -1e-12).all()  # monotone
    assert d.max() < 1.6 * 0.75 / 200  # no jump: at most 1.5x the average slope of the ramp
    # the slope changes gradually, also where the ramp starts and ends: a linear ramp's kink
    # there (a second difference of 0.75 / 200 = 3.75e-3) or a step (0.75) would fail this
    assert np.abs(np.diff(d)).max() < 2e-4
    assert d[0] < 1e-4 and d[199] < 1e-4


def test_product_loss_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = [0.25, 0.75]
    weak = torch.tensor([0.5])
    # target ∝ [0.5 * 0.25, 0.5 * 0.75] = [0.25, 0.75] after renormalising
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert product_loss(1.0, 1.0)(logits, weak, 0.3).item() == pytest.approx(expected, rel=1e-6)
    # beta = 0: plain cross-entropy on the weak labels
    assert product_loss(1.0, 0.0)(logits, weak, 0.3).item() == pytest.approx(
        xent(logits, weak).item(), rel=1e-6
    )


def test_standardized_head_learns_where_a_per_text_norm_stalls():
    """A few huge constant dimensions (as in decoder residual streams) must not drown the signal:
    the head standardizes each feature from the training inputs before the linear layer."""
    import torch

    from driftlab.w2s.config import FitConfig
    from driftlab.w2s.losses import xent
    from driftlab.w2s.models import Classifier, Features, Standardize
    from driftlab.w2s.train import fit

    g = torch.Generator().manual_seed(0)
    n, h = 300, 16
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, h, generator=g) * 0.05
    x[:, 0] += 0.2 * (2 * y - 1)  # the signal: one small dimension
    x[:, 1:4] += 500.0  # massive, uninformative dimensions
    feats = Features("pooled", list(x))
    model = Classifier(None, h, "last")
    res = fit(
        model,
        feats,
        list(range(200)),
        y[:200].numpy().astype(float),
        xent,
        FitConfig(epochs=10, batch_size=16, head_learning_rate=1e-2, evals_per_epoch=1),
        0,
        {"test": list(range(200, n))},
        curve=False,
    )
    acc = float(((res.final("test") > 0.5) == y[200:].numpy()).mean())
    assert acc > 0.9
    standardize = model.head[0]
    assert isinstance(standardize, Standardize)
    assert standardize.mean[1].item() == pytest.approx(
        500.0, abs=1.0
    )  # fixed from the training inputs
