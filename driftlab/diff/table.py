"""The ranked findings as a rich table, and a one-line verdict under it."""

from __future__ import annotations

from rich.table import Table


def _f(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def findings_table(doc: dict) -> Table:
    t = Table(
        title=f"diff: A = {doc['model_a']}  vs  B = {doc['model_b']}  "
        f"({doc['n_texts']['a']} + {doc['n_texts']['b']} texts, "
        f"{doc['clustering']['k']} clusters, alpha {doc['alpha']})"
    )
    for col in (
        "#",
        "status",
        "more in",
        'label ("this model\'s texts do this more")',
        "n A/B",
        "share A->B",
        "h",
        "q",
        "AUC",
        "val q",
    ):
        t.add_column(col, overflow="fold")
    if doc["intent"]:
        t.add_column("intent")
    style = {"validated": "bold green", "unvalidated": "yellow", "untested": "dim"}
    for it in doc["findings"]:
        e, v = it["effect"], it["validation"]
        row = [
            str(it["rank"]),
            f"[{style[it['status']]}]{it['status']}[/]",
            it["more_in"].upper(),
            (it["label"] or "(no label written)")
            + (f" [dim]({it['source']}; by {it.get('label_by')})[/]"),
            f"{e['n_a']}/{e['n_b']}",
            f"{e['share_a']:.1%}->{e['share_b']:.1%}",
            f"{e['cohens_h']:+.2f}",
            _f(e["q"], ".1e"),
            _f(v.get("auc"), ".2f"),
            _f(v.get("q"), ".3f"),
        ]
        if doc["intent"]:
            row.append(it.get("intent") or "-")
        t.add_row(*row)
    return t


def verdict(doc: dict) -> str:
    items = doc["findings"]
    n_val = sum(it["status"] == "validated" for it in items)
    n_sig = sum(c["significant"] for c in doc["clusters"])
    base = doc["baseline_classifier"]
    parts = [
        f"{n_sig} of {len(doc['clusters'])} clusters differ (BH q < {doc['alpha']})",
        f"{n_val} validated finding(s); {len(items) - n_val} hypothesis(es) not validated",
    ]
    if base.get("tfidf_auc") is not None:
        parts.append(
            f"classifier baseline AUC: words {base['tfidf_auc']:.2f}, "
            f"embeddings {_f(base.get('embedding_auc'), '.2f')}"
        )
    return "; ".join(parts)
