"""The page context of a loop run (a directory with run.json), read from its artifacts alone.

Nothing here loads a model or the config's task: a report must build on any machine that
has the run directory, for a run that is finished, halted, failed or still going.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from driftlab.guard import Rule
from driftlab.intervals import changed
from driftlab.monitors import MONITORS
from driftlab.report import figures
from driftlab.report.diff import findings_rows
from driftlab.report.samples import round_samples
from driftlab.store import METRICS, PROPOSALS, TRAIN_STATS, RunStore
from driftlab.summary import LEGEND, round_status, selected

NOT_METRICS = {"round", "parent", "head", "promoted", "status", "note", "guard"}
# After the monitors (what changed in the model): what the loop and training did.
ENGINE_GROUPS = ["loop", "audit", "mitigate", "train"]
GROUP_TITLES = {
    "loop": "loop statistics",
    "audit": "audit of the training data (ground truth, after the fact)",
    "mitigate": "mitigations (replay, dedup)",
    "train": "training",
    "time": "time per round",
}


def _duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _elapsed(run: dict[str, Any]) -> float | None:
    try:
        fmt = "%Y-%m-%dT%H:%M:%S%z"
        return (
            datetime.strptime(run["updated"], fmt) - datetime.strptime(run["created"], fmt)
        ).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def _status_line(run: dict[str, Any], planned: int | None) -> str:
    status = run.get("status", "?")
    done = max((r["round"] for r in run.get("rounds", [])), default=-1)
    if status == "halted" and run.get("halt"):
        h = run["halt"]
        return (
            f"halted at round {h['round']}: {h.get('message', '')}. "
            f"Round {h['round']} was not promoted; "
            f"the final model is round {h.get('final_round')}'s."
        )
    if status == "running":
        of = planned if planned is not None else "?"
        return f"still running: {done} of {of} rounds finished (partial report)"
    if status == "awaiting_review":
        k = (run.get("review") or {}).get("round", done + 1)
        return (
            f"awaiting human review of round {k}'s proposals (driftlab review DIR); "
            f"{done} rounds finished"
        )
    if status == "failed":
        return f"failed after round {done}: {run.get('error')}"
    return f"{status}: {done} of {planned if planned is not None else done} rounds"


def _rules(config: dict[str, Any]) -> tuple[list[Rule], list[str]]:
    rules, bad = [], []
    for text in config.get("guard", {}).get("rules", []):
        try:
            rules.append(Rule.parse(text))
        except ValueError:
            bad.append(text)
    return rules, bad


def _fired(run: dict[str, Any]) -> dict[int, list[str]]:
    """Round -> messages of the rules that fired there (halt and rollbacks)."""
    out: dict[int, list[str]] = {}
    events = ([run["halt"]] if run.get("halt") else []) + list(run.get("rollbacks") or [])
    for e in events:
        out.setdefault(e["round"], []).extend(h["rule"] for h in e.get("hits", []))
    return out


def _group_order(groups: dict[str, list[str]]) -> list[str]:
    """Monitors first (what changed in the model), then the engine's groups, then the rest."""
    order = [*MONITORS.names(), *ENGINE_GROUPS]
    return sorted(groups, key=lambda g: (order.index(g) if g in order else len(order), g))


def _metric_groups(
    store: RunStore, rounds: list[dict], rules: list[Rule], fired: dict[int, list[str]]
) -> list[dict]:
    metrics = sorted(
        {
            k
            for r in rounds
            for k, v in r.items()
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )
    groups: dict[str, list[str]] = {}
    for m in metrics:
        groups.setdefault(m.split(".", 1)[0] if "." in m else "time", []).append(m)
    out = []
    for g in _group_order(groups):
        figs = []
        for m in groups[g]:
            src = store.metric_source(m)
            links = [("run.json", "run.json")] + [
                (f"round {r['round']}", store.href(r["round"], src))
                for r in rounds
                if m in r and store.has(r["round"], src)
            ]
            figs.append(
                {
                    "metric": m,
                    "html": figures.to_html(figures.metric_figure(m, rounds, rules, fired), m),
                    "links": links,
                    "rules": [r.text for r in rules if r.metric == m],
                }
            )
        out.append({"name": g, "title": GROUP_TITLES.get(g, f"monitor: {g}"), "figures": figs})
    return out


def _declared(kind: str) -> list[tuple[str, str, str]]:
    """(monitor, table, title) for every stored table a monitor asks to show as `kind`
    (Monitor.figures); the title is the table's name, prefixed where two monitors share it."""
    found = [
        (name, table)
        for name in MONITORS.names()
        for table, k in MONITORS.get(name).figures.items()
        if k == kind
    ]
    shared = Counter(table for _, table in found)
    return [(n, t, t if shared[t] == 1 else f"{n} {t}") for n, t in found]


def _extra_figures(store: RunStore, ks: list[int]) -> list[dict]:
    """Figures from per-round files: training loss curves, and the monitors' calibration
    tables (those they declare as "calibration" figures)."""
    out = []
    losses, loss_links = {}, []
    for k in ks:
        stats = store.train_stats(k)
        if stats and stats.get("losses"):
            losses[k] = stats["losses"]
            loss_links.append((f"round {k}", store.href(k, TRAIN_STATS)))
    if losses:
        out.append(
            {
                "metric": "training loss",
                "html": figures.to_html(figures.loss_figure(losses), "train-loss"),
                "links": loss_links,
                "rules": [],
            }
        )
    for name, table, title in _declared("calibration"):
        calib, links = {}, []
        for k in ks:
            rows = store.monitor_tables(k, name).get(table)
            if rows:
                calib[k] = rows
                links.append((f"round {k}", store.href(k, METRICS)))
        if calib:
            out.append(
                {
                    "metric": title,
                    "html": figures.to_html(figures.calibration_figure(calib), title),
                    "links": links,
                    "rules": [],
                }
            )
    return out


def _findings(store: RunStore, run: dict[str, Any], ks: list[int]) -> list[dict]:
    rows = []
    for k in ks:
        for name, f in store.findings(k):
            rows.append(
                {
                    "round": k,
                    "source": f.get("source", "?"),
                    "severity": f.get("severity", "info"),
                    "message": f.get("message", ""),
                    "data": json.dumps(
                        f.get("data", {}), indent=1, ensure_ascii=False, default=str
                    ),
                    "href": store.href(k, name),
                }
            )
    for e in [run["halt"]] if run.get("halt") else []:
        rows.append(
            {
                "round": e["round"],
                "source": "guard",
                "severity": "alert",
                "message": f"halted: {e['message']}",
                "data": json.dumps(e.get("hits", []), indent=1, default=str),
                "href": "run.json",
            }
        )
    for e in run.get("rollbacks") or []:
        rows.append(
            {
                "round": e["round"],
                "source": "guard",
                "severity": "alert",
                "message": f"rolled back to round {e['restored_round']}: {e['message']}",
                "data": json.dumps(e.get("hits", []), indent=1, default=str),
                "href": "run.json",
            }
        )
    for r in run.get("rounds", []):
        if r.get("note"):
            rows.append(
                {
                    "round": r["round"],
                    "source": "experiment",
                    "severity": "warning",
                    "message": r["note"],
                    "data": "{}",
                    "href": "run.json",
                }
            )
    return sorted(rows, key=lambda r: r["round"])


def _behavior(store: RunStore, ks: list[int]) -> list[dict]:
    """Ranked behavioural findings per round (e.g. the diff monitor's, round k against round
    0), from the tables monitors declare as "findings"."""
    out = []
    for name, table, _ in _declared("findings"):
        for k in ks:
            tables = store.monitor_tables(k, name)
            if table in tables:
                out.append(
                    {
                        "round": k,
                        "monitor": name,
                        "href": store.href(k, METRICS),
                        "rows": findings_rows(tables[table], tables.get("clusters") or []),
                    }
                )
    return out


def _samples(store: RunStore, ks: list[int]) -> dict[str, Any]:
    rows, files = [], []
    for k in ks:
        proposals = store.proposals(k)
        if proposals is not None:
            shown, total = round_samples(k, proposals)
            rows += shown
            files.append(
                {
                    "round": k,
                    "href": store.href(k, PROPOSALS),
                    "shown": len(shown),
                    "total": total,
                }
            )
    return {
        "rows": rows,
        "files": files,
        "kinds": sorted({r.kind for r in rows}),
        "reasons": sorted({r.reason for r in rows if r.reason}),
        "rounds": sorted({r.round for r in rows}),
    }


def _changed(r: dict, base: dict | None) -> str:
    """The metrics round r moved beyond noise from round 0 (see driftlab.intervals.changed)."""
    if base is None:
        return "-"
    keys = sorted({*(r.get("ci") or {}), *(r.get("tests") or {})})
    hits = [k for k in keys if k in r and changed(k, r, base)]
    return ", ".join(hits) if hits else ("none" if keys and r is not base else "-")


def _round_rows(store: RunStore, rounds: list[dict]) -> list[dict]:
    base = next((r for r in rounds if r["round"] == 0), None)
    return [
        {
            "round": r["round"],
            "status": round_status(r),
            "parent": r.get("parent", "-"),
            "selected": selected(r),
            "wall": _duration(r.get("wall_s")) if r.get("wall_s") is not None else "-",
            "guard": "; ".join(r.get("guard", [])),
            "changed": _changed(r, base),
            "href": store.href(r["round"]),
        }
        for r in rounds
    ]


def run_context(root: Path) -> dict[str, Any]:
    store = RunStore(root)
    run = store.read_run()
    config_text = store.config_text()
    config = store.config() if config_text else {}
    rounds = sorted(run.get("rounds", []), key=lambda r: r["round"])
    ks = store.round_numbers()
    rules, bad_rules = _rules(config)
    fired = _fired(run)
    planned = config.get("rounds")
    trained = sum(1 for r in rounds if r.get("status") == "trained")
    overview = {
        "name": run.get("name", root.name),
        "method": run.get("method") or config.get("loop", {}).get("method"),
        "model": run.get("model") or config.get("model", {}).get("name"),
        "task": config.get("task", {}).get("name"),
        "seed": run.get("seed"),
        "status": run.get("status", "?"),
        "status_line": _status_line(run, planned),
        "planned_rounds": planned,
        "trained_rounds": trained,
        "promoted_rounds": sum(
            1 for r in rounds if r.get("status") == "trained" and r.get("promoted")
        ),
        "created": run.get("created"),
        "updated": run.get("updated"),
        "elapsed": _duration(_elapsed(run)),
        "round_time": _duration(sum(r.get("wall_s", 0) or 0 for r in rounds)),
        "versions": run.get("versions", {}),
        "halt": run.get("halt"),
        "rollbacks": run.get("rollbacks") or [],
        "rules": [r.text for r in rules],
        "bad_rules": bad_rules,
        "action": config.get("guard", {}).get("action"),
        "loop": {k: v for k, v in config.get("loop", {}).items() if k != "method"},
    }
    in_progress = [k for k in ks if k not in {r["round"] for r in rounds}]
    return {
        "kind": "run",
        "title": f"driftlab run: {overview['name']}",
        "overview": overview,
        "config_text": config_text,
        "rounds": _round_rows(store, rounds),
        "legend": LEGEND.removeprefix("* "),
        "in_progress": in_progress,
        "groups": _metric_groups(store, rounds, rules, fired),
        "extra_figures": _extra_figures(store, ks),
        "findings": _findings(store, run, ks),
        "behavior": _behavior(store, ks),
        "samples": _samples(store, ks),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
