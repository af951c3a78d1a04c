"""The page context of a `driftlab diff` directory (findings.json + map.json, see
docs/artifacts-diff.md).

The ranked findings table is also what a run's report shows per round for the diff
monitor, so both pages read findings through `findings_rows`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from driftlab.report import figures
from driftlab.store import read_json

SCHEMA = "driftlab.diff/1"


def findings_rows(
    findings: list[dict[str, Any]], clusters: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Flat rows for the ranked table; shares come from the finding, else from its cluster."""
    by_id = {c.get("id"): c for c in clusters}
    rows = []
    for f in findings:
        e, v = f.get("effect") or {}, f.get("validation") or {}
        c = by_id.get(f.get("cluster"), {})
        rows.append(
            {
                "rank": f.get("rank"),
                "label": f.get("label", ""),
                "statement": f.get("statement", ""),
                "status": f.get("status", "untested"),
                "more_in": f.get("more_in"),
                "cluster": f.get("cluster"),
                "share_a": e.get("share_a", c.get("share_a")),
                "share_b": e.get("share_b", c.get("share_b")),
                "n_a": e.get("n_a", c.get("n_a")),
                "n_b": e.get("n_b", c.get("n_b")),
                "diff": e.get("diff", c.get("diff")),
                "cohens_h": e.get("cohens_h", c.get("cohens_h")),
                "q": e.get("q", c.get("q")),
                "auc": v.get("auc"),
                "p": v.get("p"),
                "val_q": v.get("q"),
                "n_pairs": v.get("n_pairs"),
                "intent": f.get("intent"),
                "intent_p_yes": f.get("intent_p_yes"),
                "candidates": f.get("candidates") or [],
                "examples_a": f.get("examples_a") or c.get("examples_a") or [],
                "examples_b": f.get("examples_b") or c.get("examples_b") or [],
            }
        )
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0))


def diff_context(root: Path) -> dict[str, Any]:
    doc = read_json(root / "findings.json")
    clusters = doc.get("clusters") or []
    figs = []
    rows = findings_rows(doc.get("findings") or [], clusters)
    if clusters:
        figs.append(
            {
                "metric": "cluster shares",
                "html": figures.to_html(figures.cluster_share_figure(clusters), "cluster-shares"),
                "links": [("findings.json", "findings.json")],
                "rules": [],
            }
        )
    map_path = root / "map.json"
    if map_path.exists():
        m = read_json(map_path)
        links = [("map.json", "map.json")] + (
            [("map.svg", "map.svg")] if (root / "map.svg").exists() else []
        )
        figs.append(
            {
                "metric": "2-D map",
                "html": figures.to_html(figures.map_figure(m, doc), "diff-map"),
                "links": links,
                "rules": [],
            }
        )
    s = doc.get("settings") or {}
    return {
        "kind": "diff",
        "title": f"driftlab diff: {doc.get('model_a')} vs {doc.get('model_b')}",
        "doc": doc,
        "schema_ok": doc.get("schema") == SCHEMA,
        "settings": s,
        "findings": rows,
        "validated": sum(r["status"] == "validated" for r in rows),
        "clusters": clusters,
        "figures": figs,
        "characteristic": doc.get("characteristic") or {},
        "baseline": doc.get("baseline_classifier") or {},
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
