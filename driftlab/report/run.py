"""The page context of a loop run (a directory with run.json), read from its artifacts alone.

Nothing here loads a model or the config's task: a report must build on any machine that
has the run directory, for a run that is finished, halted, failed or still going.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from driftlab.guard import Rule
from driftlab.intervals import changed
from driftlab.report import figures
from driftlab.report.diff import findings_rows
from driftlab.report.samples import round_samples
from driftlab.store import read_json, read_jsonl
from driftlab.summary import LEGEND

NOT_METRICS = {"round", "parent", "head", "promoted", "status", "note", "guard"}
# Monitors first (what changed in the model), then what the loop and training did.
GROUP_ORDER = [
    "capability",
    "diversity",
    "reference_ppl",
    "diff",
    "loop",
    "audit",
    "mitigate",
    "train",
]
GROUP_TITLES = {
    "loop": "loop statistics",
    "audit": "audit of the training data (ground truth, after the fact)",
    "mitigate": "mitigations (replay, dedup)",
    "train": "training",
    "time": "time per round",
}


def _source_file(metric: str) -> str:
    """The round artifact a run.json metric was copied from."""
    group = metric.split(".", 1)[0]
    return {
        "loop": "loop.json",
        "train": "adapter/train_stats.json",
        "audit": "train.jsonl",
        "mitigate": "lineage.json",
    }.get(group, "metrics.json")


def _round_dirs(root: Path) -> list[int]:
    rounds = root / "rounds"
    return (
        sorted(int(p.name) for p in rounds.iterdir() if p.is_dir() and p.name.isdigit())
        if rounds.is_dir()
        else []
    )


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


def _metric_groups(
    root: Path, rounds: list[dict], rules: list[Rule], fired: dict[int, list[str]]
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
    ordered = sorted(
        groups, key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), g)
    )
    out = []
    for g in ordered:
        figs = []
        for m in groups[g]:
            src = _source_file(m)
            links = [("run.json", "run.json")] + [
                (f"round {r['round']}", f"rounds/{r['round']:03d}/{src}")
                for r in rounds
                if m in r and (root / "rounds" / f"{r['round']:03d}" / src).exists()
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


def _extra_figures(root: Path, ks: list[int]) -> list[dict]:
    """Figures from per-round files: training loss curves, calibration."""
    out = []
    losses, loss_links, calib, calib_links = {}, [], {}, []
    for k in ks:
        stats = root / "rounds" / f"{k:03d}" / "adapter" / "train_stats.json"
        if stats.exists() and read_json(stats).get("losses"):
            losses[k] = read_json(stats)["losses"]
            loss_links.append((f"round {k}", str(stats.relative_to(root))))
        mpath = root / "rounds" / f"{k:03d}" / "metrics.json"
        if mpath.exists():
            table = (
                read_json(mpath)
                .get("monitors", {})
                .get("capability", {})
                .get("tables", {})
                .get("calibration")
            )
            if table:
                calib[k] = table
                calib_links.append((f"round {k}", str(mpath.relative_to(root))))
    if losses:
        out.append(
            {
                "metric": "training loss",
                "html": figures.to_html(figures.loss_figure(losses), "train-loss"),
                "links": loss_links,
                "rules": [],
            }
        )
    if calib:
        out.append(
            {
                "metric": "calibration",
                "html": figures.to_html(figures.calibration_figure(calib), "calibration"),
                "links": calib_links,
                "rules": [],
            }
        )
    return out


def _findings(root: Path, run: dict[str, Any], ks: list[int]) -> list[dict]:
    rows = []
    for k in ks:
        for name in ("loop.json", "metrics.json"):
            path = root / "rounds" / f"{k:03d}" / name
            if not path.exists():
                continue
            for f in read_json(path).get("findings", []):
                rows.append(
                    {
                        "round": k,
                        "source": f.get("source", "?"),
                        "severity": f.get("severity", "info"),
                        "message": f.get("message", ""),
                        "data": json.dumps(
                            f.get("data", {}), indent=1, ensure_ascii=False, default=str
                        ),
                        "href": f"rounds/{k:03d}/{name}",
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


def _behavior(root: Path, ks: list[int]) -> list[dict]:
    """The diff monitor's ranked findings per round (round k against round 0), where it ran."""
    out = []
    for k in ks:
        path = root / "rounds" / f"{k:03d}" / "metrics.json"
        tables = (
            read_json(path).get("monitors", {}).get("diff", {}).get("tables", {})
            if path.exists()
            else {}
        )
        if "findings" in tables:
            out.append(
                {
                    "round": k,
                    "href": f"rounds/{k:03d}/metrics.json",
                    "rows": findings_rows(tables["findings"], tables.get("clusters") or []),
                }
            )
    return out


def _samples(root: Path, ks: list[int]) -> dict[str, Any]:
    rows, files = [], []
    for k in ks:
        path = root / "rounds" / f"{k:03d}" / "proposals.jsonl"
        if path.exists():
            shown, total = round_samples(k, read_jsonl(path))
            rows += shown
            files.append(
                {
                    "round": k,
                    "href": f"rounds/{k:03d}/proposals.jsonl",
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


def _round_rows(rounds: list[dict]) -> list[dict]:
    base = next((r for r in rounds if r["round"] == 0), None)
    rows = []
    for r in rounds:
        status = r.get("status", "")
        rows.append(
            {
                "round": r["round"],
                "status": "rejected"
                if status == "trained" and r.get("promoted") is False
                else status,
                "parent": r.get("parent", "-"),
                "selected": (
                    f"{r['loop.questions_selected']:.0f}/{r['loop.questions']:.0f}"
                    if "loop.questions" in r and "loop.questions_selected" in r
                    else "-"
                ),
                "wall": _duration(r.get("wall_s")) if r.get("wall_s") is not None else "-",
                "guard": "; ".join(r.get("guard", [])),
                "changed": _changed(r, base),
                "href": f"rounds/{r['round']:03d}/",
            }
        )
    return rows


def run_context(root: Path) -> dict[str, Any]:
    run = read_json(root / "run.json")
    cfg_path = root / "config.toml"
    config_text = cfg_path.read_text(encoding="utf-8") if cfg_path.exists() else ""
    config = tomllib.loads(config_text) if config_text else {}
    rounds = sorted(run.get("rounds", []), key=lambda r: r["round"])
    ks = _round_dirs(root)
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
        "rounds": _round_rows(rounds),
        "legend": LEGEND.removeprefix("* "),
        "in_progress": in_progress,
        "groups": _metric_groups(root, rounds, rules, fired),
        "extra_figures": _extra_figures(root, ks),
        "findings": _findings(root, run, ks),
        "behavior": _behavior(root, ks),
        "samples": _samples(root, ks),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
