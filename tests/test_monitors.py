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
    # bins [0, 0.5] and (0.5, 1]: conf 0.5 right twice (gap 0.5),
    # conf 1.0 right once of two (gap 0.5)
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
    # enabled: some monitors (diff) are off by default because they are costly
    body = {"enabled": True} | (
        {"max_new_tokens": 6} if "max_new_tokens" in cls.Config.model_fields else {}
    )
    cfg = ExperimentConfig(monitors={name: body}).monitor_settings()[name]
    mon = cls(cfg)
    assert mon.fit(None) is mon
    res = mon.score(ctx)
    assert isinstance(res, MonitorResult) and res.metrics
    assert all(isinstance(v, float | int) and not isinstance(v, bool) for v in res.metrics.values())
    again = MonitorResult.from_dict(res.to_dict())
    assert again.metrics.keys() == res.metrics.keys()
    assert mon.fit(again) is mon  # a stored baseline is enough to fit on
    # intervals, where a monitor gives them, are of its own metrics and ordered
    assert res.intervals.keys() <= res.metrics.keys()
    for k, ci in res.intervals.items():
        assert ci["method"] and ci["n"] >= 1, k
        assert not ci["lo"] > ci["hi"], k  # NaN allowed (an undefined statistic)
    later = mon.score(ctx)
    for k, v in res.metrics.items():
        assert (math.isnan(v) and math.isnan(later.metrics[k])) or v == pytest.approx(
            later.metrics[k]
        ), k


@pytest.mark.parametrize("name", MONITORS.names())
def test_every_monitor_declares_what_the_table_and_report_show(name):
    """Its round-table columns are metrics it reports; its figures are kinds the report draws."""
    from driftlab.monitors.base import FIGURE_KINDS

    cls = MONITORS.get(name)
    cfg = ExperimentConfig(monitors={name: {"enabled": True}}).monitor_settings()[name]
    reported = cls.metric_names(cfg)
    # "changed" is the words measure.add_result makes of the monitor's `changed` table
    assert all(c.metric in reported or c.metric == "changed" for c in cls.columns), (
        cls.columns,
        reported,
    )
    assert all(c.fmt.format(0.5) for c in cls.columns)
    assert set(cls.figures.values()) <= set(FIGURE_KINDS)


def test_the_round_table_columns_come_from_the_monitors():
    from driftlab.summary import columns

    keys = [c.metric for c in columns()]
    assert keys[-1] == "wall_s" and keys.index("train.last_loss") < keys.index(
        "capability.accuracy"
    )
    for name in MONITORS.names():
        assert [f"{name}.{c.metric}" for c in MONITORS.get(name).columns] == [
            k for k in keys if k.startswith(f"{name}.")
        ]


def test_capability_finds_a_significant_drop():
    from driftlab.monitors.capability import Capability, CapabilityConfig

    base = MonitorResult(
        {"accuracy": 1.0}, records=[{"id": str(i), "greedy_correct": True} for i in range(12)]
    )
    mon = Capability(CapabilityConfig()).fit(base)
    [f] = mon._findings(
        [{"id": str(i), "greedy_correct": False} for i in range(12)], {"accuracy": 0.0}
    )
    assert f.severity == "warning" and "12 broken" in f.message and f.data["p"] < 0.001


def test_self_bleu_and_dispersion_by_hand():
    from driftlab.monitors.diversity import dispersion, self_bleu

    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(1.0)
    assert self_bleu(["alpha beta gamma delta", "one two three four"]) == pytest.approx(
        0.0, abs=1e-6
    )
    assert math.isnan(self_bleu(["only one", "   "]))
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    opposite = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert dispersion(same) == pytest.approx(0.0) and dispersion(opposite) == pytest.approx(1.0)
    assert math.isnan(dispersion(same[:1]))


def test_diversity_finds_a_collapse_against_round_0():
    from driftlab.monitors.diversity import Diversity, DiversityConfig

    mon = Diversity(DiversityConfig(warn_drop=0.2)).fit(
        MonitorResult({"distinct_2": 0.8, "dispersion": 0.5})
    )
    [f] = mon._drops({"distinct_2": 0.4, "dispersion": 0.45}, round_=2)
    assert f.data["metric"] == "distinct_2" and f.data["relative_drop"] == pytest.approx(0.5)
    assert "possible mode collapse" in f.message
    assert Diversity(DiversityConfig()).fit(None)._drops({"distinct_2": 0.1}, 1) == []


def test_reference_ppl_flags_vanishing_tails():
    from driftlab.monitors.reference_ppl import ReferencePPL, ReferencePPLConfig

    mon = ReferencePPL(ReferencePPLConfig())
    n = len(mon.passages)
    base = np.linspace(10, 100, n)
    mon.fit(MonitorResult({"ppl": 1.0}, records=[{"ppl": float(x)} for x in base]))
    metrics = {"ppl_p90": 1.0, "ppl_median": 1.0, "tail_ratio": 2.0}
    # the rarest passages lose the most: change grows with round-0 perplexity
    [f] = mon._tail(metrics, base * (1 + base / 100), round_=3)
    assert metrics["tail_skew"] == pytest.approx(1.0) and "vanishing tails" in f.message
    # a uniform rise is no tail effect
    assert mon._tail(dict(metrics), base * 1.5, round_=3) == []


def test_reference_ppl_scores_both_texts_and_fits_on_the_human_one(ctx):
    """ai_ppl comes from the AI-drafted text; the round-0 baseline and the tails use human.txt."""
    from driftlab.monitors.reference_ppl import ReferencePPL, ReferencePPLConfig

    mon = ReferencePPL(ReferencePPLConfig()).fit(None)
    res = mon.score(ctx)
    human = [r for r in res.records if "text" not in r]
    ai = [r for r in res.records if r.get("text") == "ai_drafted"]
    assert len(human) == len(mon.passages) == 66 and len(ai) == len(mon.ai_passages) == 40
    assert res.metrics["ai_ppl"] > 1 and res.metrics["ai_ppl"] != res.metrics["ppl"]
    assert {"ppl", "ppl_median", "ppl_p90", "ai_ppl"} <= res.intervals.keys() and not res.tests
    lo, hi = res.intervals["ppl"]["lo"], res.intervals["ppl"]["hi"]
    assert lo < res.metrics["ppl"] < hi
    mon.fit(res)
    assert mon.baseline is not None and len(mon.baseline) == 66
    # the same model again: the paired test sees no change
    again = mon.score(ctx)
    assert again.tests["ppl"]["ci"] == [0.0, 0.0] and not again.tests["ppl"]["significant"]
    assert mon.baseline.tolist() == [r["ppl"] for r in human]
    off = ReferencePPL(ReferencePPLConfig(ai_drafted=False))
    assert "ai_ppl" not in off.score(ctx).metrics
    assert "ai_ppl" not in ReferencePPL.metric_names(ReferencePPLConfig(ai_drafted=False))
