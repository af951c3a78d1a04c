import math

import numpy as np
import pytest

from driftlab.config import ExperimentConfig
from driftlab.models.hf import HFModel
from driftlab.monitors import MONITORS, MeasureContext, MonitorResult
from driftlab.monitors.capability import expected_calibration_error, mcnemar
from driftlab.monitors.diversity import distinct_n, entropy
from driftlab.tasks import build_task


def test_distinct_n_and_entropy_by_hand():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == 2 / 3
    assert distinct_n(["a", ""], 2) == 0.0
    assert entropy(["x", "x", "y", "y"]) == 1.0 and entropy(["x"] * 3) == 0.0


def test_ece_by_hand():
    conf = np.array([1.0, 1.0, 0.5, 0.5])
    correct = np.array([1.0, 0.0, 1.0, 1.0])
    ece, table = expected_calibration_error(conf, correct, bins=2)
    # bins [0, 0.5] and (0.5, 1]: conf 0.5 right twice (gap 0.5), conf 1.0 right once of two (gap 0.5)
    assert ece == pytest.approx(0.5) and [b["n"] for b in table] == [2, 2]
    assert table[1] == {"bin": "0.5-1.0", "n": 2, "confidence": 1.0, "accuracy": 0.5}
    ece, _ = expected_calibration_error(np.array([0.9, 0.9]), np.array([0.0, 0.0]), bins=5)
    assert ece == pytest.approx(0.9)


def test_mcnemar_counts_flips_only():
    fixed, broken, p = mcnemar([False] * 10 + [True] * 5, [True] * 10 + [True] * 5)
    assert (fixed, broken) == (10, 0) and p == pytest.approx(2 * 0.5**10)
    assert mcnemar([True, False], [True, False]) == (0, 0, 1.0)


@pytest.fixture(scope="module")
def ctx(tiny_model):
    task = build_task("arithmetic")
    return MeasureContext(0, HFModel.load(str(tiny_model)), task, task.problems("eval", 4), seed=0)


@pytest.mark.parametrize("name", MONITORS.names())
def test_every_monitor_honours_the_contract(name, ctx):
    """One conformance test for every registered monitor (scikit-learn style)."""
    cls = MONITORS.get(name)
    cfg = ExperimentConfig(monitors={name: {"max_new_tokens": 6} if "max_new_tokens" in cls.Config.model_fields else {}}).monitor_settings()[name]
    mon = cls(cfg)
    assert mon.fit(None) is mon
    res = mon.score(ctx)
    assert isinstance(res, MonitorResult) and res.metrics
    assert all(isinstance(v, float | int) and not isinstance(v, bool) for v in res.metrics.values())
    again = MonitorResult.from_dict(res.to_dict())
    assert again.metrics.keys() == res.metrics.keys()
    assert mon.fit(again) is mon  # a stored baseline is enough to fit on
    later = mon.score(ctx)
    for k, v in res.metrics.items():
        assert (math.isnan(v) and math.isnan(later.metrics[k])) or v == pytest.approx(later.metrics[k]), k


def test_capability_finds_a_significant_drop():
    from driftlab.monitors.capability import Capability, CapabilityConfig

    base = MonitorResult({"accuracy": 1.0}, records=[{"id": str(i), "greedy_correct": True} for i in range(12)])
    mon = Capability(CapabilityConfig()).fit(base)
    [f] = mon._findings([{"id": str(i), "greedy_correct": False} for i in range(12)], {"accuracy": 0.0})
    assert f.severity == "warning" and "12 broken" in f.message and f.data["p"] < 0.001
