"""Intervals and the round table's mark: known values, determinism, and when the mark shows."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from driftlab.intervals import bootstrap, changed, excludes, mean_ci, paired_bootstrap, wilson
from driftlab.monitors import MonitorResult
from driftlab.report.figures import metric_figure
from driftlab.summary import LEGEND, round_table


@pytest.mark.parametrize(
    "k, n, lo, hi",
    # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_matches_scipy_and_handles_edges():
    from scipy.stats import binomtest

    for k, n in [(5, 32), (16, 32), (31, 32), (32, 32)]:
        ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert all(np.isnan(wilson(0, 0)))


def test_bootstrap_is_deterministic_with_a_seed_and_covers_the_mean():
    x = np.random.default_rng(1).normal(10, 2, 60)
    a, b = mean_ci(x, seed=3), mean_ci(x, seed=3)
    assert a == b and mean_ci(x, seed=4) != a
    lo, hi = a
    assert lo < x.mean() < hi
    # about the normal-theory width, 2 * 1.96 * s / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(60), rel=0.2)
    assert all(np.isnan(bootstrap(1, lambda i: 0.0)))


def test_a_paired_interval_sees_a_shift_that_two_unpaired_ones_miss():
    rng = np.random.default_rng(0)
    before = rng.normal(0, 1, 40)  # items differ a lot from each other ...
    after = before + 0.2 + rng.normal(0, 0.05, 40)  # ... but each moved by about 0.2
    lo, hi = paired_bootstrap(before, after, seed=0)
    assert 0 < lo < 0.2 < hi
    assert not excludes(mean_ci(after, seed=0), float(before.mean()))


def _run(ci1, tests1=None):
    base = {
        "round": 0,
        "status": "baseline",
        "capability.accuracy": 0.20,
        "ci": {"capability.accuracy": [0.10, 0.37]},
    }
    r1: dict = {"round": 1, "status": "trained", "capability.accuracy": 0.40}
    r1["ci"] = {"capability.accuracy": ci1}
    if tests1 is not None:
        r1["tests"] = tests1
    return {"name": "t", "method": "lmsi", "model": "m", "status": "finished", "rounds": [base, r1]}


def _printed(run) -> str:
    console = Console(width=200, record=True)
    console.print(round_table(run))
    return console.export_text()


def test_the_round_table_marks_a_change_only_beyond_noise():
    beyond = _printed(_run([0.25, 0.57]))  # excludes round 0's 0.20
    assert "40.0%*" in beyond and LEGEND[:40] in beyond.replace("\n", " ").replace("  ", " ")
    noise = _printed(_run([0.15, 0.60]))  # includes 0.20
    assert "40.0%" in noise and "40.0%*" not in noise and "20.0%*" not in noise
    # a paired test decides over the interval, both ways
    assert "40.0%*" not in _printed(
        _run([0.25, 0.57], {"capability.accuracy": {"significant": False}})
    )
    assert "40.0%*" in _printed(_run([0.15, 0.60], {"capability.accuracy": {"significant": True}}))
    # runs written before intervals existed: no marks, no legend
    old = _run([0.25, 0.57])
    for r in old["rounds"]:
        r.pop("ci")
    assert "*" not in _printed(old)


def test_changed_never_marks_round_0_or_missing_values():
    run = _run([0.25, 0.57])
    base, r1 = run["rounds"]
    assert changed("capability.accuracy", r1, base)
    assert not changed("capability.accuracy", base, base)
    assert not changed("capability.ece", r1, base)


def test_metric_figure_draws_the_interval_or_says_there_is_none():
    run = _run([0.25, 0.57])
    fig = metric_figure("capability.accuracy", run["rounds"], [], {})
    bars = fig.data[0].error_y
    assert list(bars.array) == pytest.approx([0.17, 0.17]) and list(
        bars.arrayminus
    ) == pytest.approx([0.10, 0.15])
    assert "95% CI" in fig.layout.title.text and fig.data[0].marker.symbol[1] == "star"
    bare = metric_figure("train.last_loss", [{"round": 0, "train.last_loss": 1.0}], [], {})
    assert "no interval" in bare.layout.title.text


def test_results_stored_before_intervals_still_load():
    old = {"metrics": {"accuracy": 0.5}, "findings": [], "records": [], "tables": {}}
    res = MonitorResult.from_dict(old)
    assert res.intervals == {} and res.tests == {}
    assert MonitorResult.from_dict(res.to_dict()).intervals == {}


def test_a_monitor_result_brings_its_intervals_and_tests_into_the_round_row():
    from driftlab.intervals import interval
    from driftlab.measure import add_result

    res = MonitorResult(
        {"accuracy": 0.5, "drift": 0.3, "drift_low": 0.2, "drift_high": 0.4, "ece": 0.1},
        intervals={"accuracy": interval((0.3, 0.7), "wilson", 32)},
        tests={"accuracy": {"test": "McNemar", "p": 0.01, "significant": True}},
    )
    row: dict = {"round": 1}
    add_result(row, "m", res)
    assert row["ci"] == {"m.accuracy": [0.3, 0.7], "m.drift": [0.2, 0.4]}
    assert row["tests"]["m.accuracy"]["significant"] and row["m.ece"] == 0.1
    bare: dict = {"round": 1}
    add_result(bare, "m", MonitorResult({"ece": 0.1}))
    assert "ci" not in bare and "tests" not in bare
