"""The page context of a `driftlab w2s` directory (results.json, docs/artifacts-w2s.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from driftlab.report import figures
from driftlab.store import read_json

SCHEMA = "driftlab.w2s/1"


def short(name: str | None) -> str:
    """A model's display name: a local path shows as its last folder."""
    return Path(name).name if name and "/" in name else (name or "?")


def _mean(v: Any) -> float | None:
    return v.get("mean") if isinstance(v, dict) else None


def _ci(v: Any) -> list | None:
    return v.get("ci") if isinstance(v, dict) else None


def _table_rows(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        agree = r.get("agreement") or {}
        stop = r.get("early_stopping") or {}
        out.append(
            {
                "task": r.get("task"),
                "variant": r.get("variant"),
                "weak": short(r.get("weak")),
                "strong": short(r.get("strong")),
                "chain": " → ".join(short(c) for c in r.get("chain") or []),
                "loss": r.get("loss"),
                "seeds": len(r.get("seeds") or []),
                "n_test": r.get("n_test"),
                **{k: _mean(r.get(k)) for k in ("weak_acc", "student_acc", "ceiling_acc", "pgr")},
                "pgr_ci": _ci(r.get("pgr")),
                "label_acc": r.get("weak_label_acc_on_b"),
                "agree_all": _mean(agree.get("all")),
                "agree_right": _mean(agree.get("supervisor_right")),
                "agree_wrong": _mean(agree.get("supervisor_wrong")),
                "stopping": {k: v for k, v in stop.items() if isinstance(v, dict)},
            }
        )
    return out


def _figures(doc: dict[str, Any], tasks: list[str]) -> list[dict]:
    """Per task: accuracy against size, PGR of the baseline pairs, PGR of the other variants."""
    models = {m["name"]: m for m in doc.get("models") or []}
    link = [("results.json", "results.json")]
    figs = []
    for task in tasks:
        mine = [r for r in doc.get("rows") or [] if r.get("task") == task]
        if not mine:
            continue
        truth = [t for t in doc.get("models_on_truth") or [] if t.get("task") == task]
        acc = figures.w2s_accuracy_figure(task, mine, truth, models, short)
        figs.append(
            {
                "metric": f"{task}: accuracy vs size",
                "links": link,
                "rules": [],
                "wide": True,
                "html": figures.to_html(acc, f"w2s-acc-{task}"),
            }
        )
        base = [r for r in mine if r.get("variant") == "baseline"]
        other = [r for r in mine if r.get("variant") != "baseline"]
        for part, what, name in (
            (base, "", f"w2s-pgr-{task}"),
            (other, ": other variants", f"w2s-pgr-{task}-variants"),
        ):
            if part:
                figs.append(
                    {
                        "metric": f"{task}: PGR{what}",
                        "links": link,
                        "rules": [],
                        "wide": True,
                        "html": figures.to_html(figures.pgr_figure(task, part, short, what), name),
                    }
                )
    return figs


def w2s_context(root: Path) -> dict[str, Any]:
    doc = read_json(root / "results.json")
    rows = doc.get("rows") or []
    tasks = [t.get("name") for t in doc.get("tasks") or []] or sorted({r.get("task") for r in rows})
    figs = _figures(doc, tasks)
    table = _table_rows(rows)
    return {
        "kind": "w2s",
        "title": f"driftlab w2s: {doc.get('name', root.name)}",
        "doc": doc,
        "schema_ok": doc.get("schema") == SCHEMA,
        "models": [{**m, "short": short(m.get("name"))} for m in doc.get("models") or []],
        "tasks": doc.get("tasks") or [],
        "figures": figs,
        "rows": table,
        "variants": sorted({r["variant"] for r in table if r["variant"]}),
        "losses": sorted({r["loss"] for r in table if r["loss"]}),
        "task_names": tasks,
        "prompting": [
            {
                **p,
                "model": short(p.get("model")),
                "supervisor": short(p.get("supervisor")) if p.get("supervisor") else None,
                "acc_mean": _mean(p.get("acc")),
                "acc_ci": _ci(p.get("acc")),
            }
            for p in doc.get("prompting") or []
        ],
        "stopping_keys": sorted({k for r in table for k in r["stopping"]}),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
