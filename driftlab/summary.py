"""The per-round table printed at the end of `driftlab run` and `driftlab watch`.

The HTML report (report/run.py) shows the same legend under its own round table.
"""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from driftlab.intervals import changed

# (column title, run.json key, format); columns whose key no round has are left out.
COLUMNS = [
    ("step", "step", "{:.0f}"),  # supervised trainers (driftlab watch, the TRL callback)
    ("reward", "train.reward", "{:.2f}"),
    ("vote", "loop.mean_vote_share", "{:.2f}"),
    ("judge", "loop.judge_score_mean", "{:.2f}"),
    ("parse fail", "loop.parse_failure_rate", "{:.0%}"),
    ("pairs", "loop.pairs_kept", "{:.0f}"),
    ("revised", "loop.revision_changed_rate", "{:.0%}"),
    ("flagged", "loop.flag_rate", "{:.0%}"),
    ("probes fixed", "loop.probe_fixed_rate", "{:.0%}"),
    ("label acc", "audit.train_answer_accuracy", "{:.0%}"),
    ("loss", "train.last_loss", "{:.3f}"),
    ("acc", "capability.accuracy", "{:.1%}"),
    ("acc SC", "capability.accuracy_sc", "{:.1%}"),
    ("ECE", "capability.ece", "{:.3f}"),
    ("AUROC", "capability.auroc", "{:.2f}"),
    ("dist-2", "diversity.distinct_2", "{:.3f}"),
    ("len", "diversity.length_mean", "{:.0f}"),
    ("ans H", "diversity.answer_entropy", "{:.2f}"),
    ("ppl", "reference_ppl.ppl", "{:.2f}"),
    ("ppl p90", "reference_ppl.ppl_p90", "{:.2f}"),
    ("secs", "wall_s", "{:.0f}"),
]


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
    cols = [c for c in COLUMNS if any(c[1] in r for r in rounds)]
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
    for title, _, _ in cols:
        table.add_column(title, justify="right")
    for r in rounds:
        sel = (
            f"{r['loop.questions_selected']:.0f}/{r['loop.questions']:.0f}"
            if "loop.questions" in r
            else "-"
        )
        status = r.get("status", "")
        if status == "trained" and r.get("promoted") is False:
            status = "rejected"
        table.add_row(str(r["round"]), status, sel, *(_cell(f, k, r, base) for _, k, f in cols))
    return table
