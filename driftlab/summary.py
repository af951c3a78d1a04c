"""The per-round table printed at the end of a run (and by `driftlab report` in the terminal),
and the round-row cells it shares with the HTML report."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from driftlab.intervals import changed
from driftlab.monitors import MONITORS, Column

# What the engine and the loops record (run.json keys, before and after the monitors' own
# columns, which each monitor declares: Monitor.columns).
LEADING = [
    Column("step", "step", "{:.0f}"),  # supervised trainers (driftlab watch, the TRL callback)
    Column("reward", "train.reward", "{:.2f}"),
    Column("vote", "loop.mean_vote_share", "{:.2f}"),
    Column("judge", "loop.judge_score_mean", "{:.2f}"),
    Column("parse fail", "loop.parse_failure_rate", "{:.0%}"),
    Column("pairs", "loop.pairs_kept", "{:.0f}"),
    Column("revised", "loop.revision_changed_rate", "{:.0%}"),
    Column("flagged", "loop.flag_rate", "{:.0%}"),
    Column("probes fixed", "loop.probe_fixed_rate", "{:.0%}"),
    Column("label acc", "audit.train_answer_accuracy", "{:.0%}"),
    Column("loss", "train.last_loss", "{:.3f}"),
]
TRAILING = [Column("secs", "wall_s", "{:.0f}")]


def columns() -> list[Column]:
    """Every round-table column, its `metric` the full run.json key (monitors: NAME.metric)."""
    monitored = [
        Column(c.title, f"{name}.{c.metric}", c.fmt)
        for name in MONITORS.names()
        for c in MONITORS.get(name).columns
    ]
    # columns in words (the diff's "shorter (22 vs 55)") after the numbers, which stay aligned
    words = [c for c in monitored if c.fmt == "{}"]
    return [*LEADING, *(c for c in monitored if c.fmt != "{}"), *words, *TRAILING]


def round_status(r: dict[str, Any]) -> str:
    """A round row's status; a trained round the guard did not promote reads "rejected"."""
    status = r.get("status", "")
    return "rejected" if status == "trained" and r.get("promoted") is False else status


def selected(r: dict[str, Any]) -> str:
    """How many of the round's questions the loop selected for training ("-": not a loop)."""
    if "loop.questions" in r and "loop.questions_selected" in r:
        return f"{r['loop.questions_selected']:.0f}/{r['loop.questions']:.0f}"
    return "-"


def _fmt(fmt: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


MARK = "*"
LEGEND = (
    f"{MARK} change from round 0 beyond noise: the round's 95% interval excludes round 0's "
    "value, or its paired test on the same items (McNemar, paired bootstrap) has p < 0.05"
)


def _cell(fmt: str, key: str, row: dict[str, Any], base: dict[str, Any] | None) -> str:
    text = _fmt(fmt, row.get(key))
    return text + MARK if base is not None and changed(key, row, base) else text


def round_table(run: dict[str, Any]) -> Table:
    """One row per round; a * marks the changes from round 0 that are not noise."""
    rounds = run.get("rounds", [])
    cols = [c for c in columns() if any(c.metric in r for r in rounds)]
    base = next((r for r in rounds if r["round"] == 0), None)
    measured = base is not None and any("ci" in r or "tests" in r for r in rounds)
    table = Table(
        title=f"{run.get('name', 'run')}: {run.get('method', '')} on {run.get('model', '')}"
        f" ({run.get('status', '?')})",
        caption=LEGEND if measured else None,
    )
    table.add_column("round", justify="right")
    table.add_column("status", no_wrap=True, min_width=8)
    table.add_column("selected", justify="right")
    for c in cols:
        table.add_column(c.title, justify="right")
    for r in rounds:
        cells = (_cell(c.fmt, c.metric, r, base) for c in cols)
        table.add_row(str(r["round"]), round_status(r), selected(r), *cells)
    return table
