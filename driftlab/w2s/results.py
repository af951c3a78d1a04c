"""results.json (schema in docs/artifacts-w2s.md) and the table the CLI prints, built from units."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
from rich.table import Table

from driftlab.store import versions
from driftlab.w2s.config import W2SConfig
from driftlab.w2s.metrics import CRITERIA, bootstrap, pgr, stopping_points, summarize

SCHEMA = "driftlab.w2s/1"


def _hard(p) -> np.ndarray:
    return np.asarray(p) > 0.5


def _supervisor_variant(variant: str) -> str:
    return (
        variant
        if variant in ("baseline", "generative") or variant.startswith("synthetic")
        else "baseline"
    )


def build_results(
    cfg: W2SConfig, tasks, units: dict, model_info: list[dict], wall: float, config: dict
) -> dict:
    by_name = {t.name: t for t in tasks}
    groups: dict[tuple, dict] = defaultdict(dict)
    for (task, variant, weak, strong, loss, seed), u in units["student"].items():
        groups[(task, variant, weak, strong, loss)][seed] = u
    rows = []
    for (task, variant, weak, strong, loss), per_seed in groups.items():
        t = by_name[task]
        y = t.labels[t.n_pool :]
        seeds = sorted(per_seed)
        wv, cv = (
            _supervisor_variant(variant),
            "generative" if variant == "generative" else "baseline",
        )
        W = [units["weak"][(task, wv, weak, s)] for s in seeds]
        C = [units["ceiling"][(task, cv, strong, s)] for s in seeds]
        S = [per_seed[s] for s in seeds]
        wp = np.array([_hard(u["final"]["test"]) for u in W])
        sp = np.array([_hard(u["final"]["test"]) for u in S])
        cp = np.array([_hard(u["final"]["test"]) for u in C])
        row = {
            "task": task,
            "variant": variant,
            "weak": weak,
            "strong": strong,
            "chain": S[0]["spec"].get("chain", [weak, strong]),
            "loss": loss,
            "seeds": seeds,
            "n_test": int(len(y)),
        }
        row.update(
            summarize(wp == y, sp == y, cp == y, sp == wp, cfg.bootstrap_resamples, cfg.min_gap)
        )
        row["weak_label_acc_on_b"] = round(
            float(np.mean([(_hard(u["targets"]) == t.labels[u["train_idx"]]).mean() for u in S])), 4
        )
        row["early_stopping"] = _early_stopping(S, W, y, row, cfg.min_gap)
        n_ck = min(len(u["checkpoints"]) for u in S)
        row["curve"] = [
            {
                "epoch": S[0]["checkpoints"][i]["epoch"],
                "test_acc": round(
                    float(
                        np.mean(
                            [(_hard(u["checkpoints"][i]["probs"]["test"]) == y).mean() for u in S]
                        )
                    ),
                    4,
                ),
            }
            for i in range(n_ck)
        ]
        row["units"] = {
            "weak": [u["key"] for u in W],
            "student": [u["key"] for u in S],
            "ceiling": [u["key"] for u in C],
        }
        rows.append(row)
    order = {n: i for i, n in enumerate(cfg.ladder)}
    rows.sort(
        key=lambda r: (
            r["task"],
            r["variant"] != "baseline",
            r["variant"],
            order.get(r["weak"], -1),
            order[r["strong"]],
            r["loss"],
        )
    )
    return {
        "schema": SCHEMA,
        "name": cfg.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(wall, 1),
        "versions": versions(),
        "config": config,
        "models": [{k: v for k, v in m.items() if k != "path"} for m in model_info],
        "tasks": [
            {
                "name": t.name,
                "source": t.data.source,
                "difficulty": t.data.difficulty,
                "n_a": cfg.data.n_a,
                "n_b": cfg.data.n_b,
                "n_test": int(len(t.labels) - t.n_pool),
                "positive_rate": round(float(t.labels.mean()), 4),
            }
            for t in tasks
        ],
        "rows": rows,
        "models_on_truth": _truth_rows(cfg, by_name, units),
        "prompting": _prompt_rows(cfg, by_name, units),
        "bootstrap_ci": {
            "resamples": cfg.bootstrap_resamples,
            "level": 0.95,
            "over": ["seeds", "test items"],
        },
    }


def _early_stopping(S, W, y, row, min_gap: float) -> dict:
    picks = defaultdict(list)
    for s, w in zip(S, W):
        pts = stopping_points(s["checkpoints"], y, np.asarray(w["final"].get("val", [])))
        for crit, i in pts.items():
            ck = s["checkpoints"][i]
            picks[crit].append(((_hard(ck["probs"]["test"]) == y).mean(), ck["epoch"]))
    weak, ceil = row["weak_acc"]["mean"], row["ceiling_acc"]["mean"]
    out = {}
    for crit in CRITERIA:
        if crit in picks:
            acc = float(np.mean([a for a, _ in picks[crit]]))
            p = pgr(weak, acc, ceil, min_gap)
            out[crit] = {
                "acc": round(acc, 4),
                "pgr": None if p is None else round(p, 4),
                "epoch": round(float(np.mean([e for _, e in picks[crit]])), 3),
            }
    return out


def _truth_rows(cfg, by_name, units) -> list[dict]:
    out = []
    for role, split in (("weak", "a"), ("ceiling", "b")):
        groups = defaultdict(list)
        for (task, variant, model, _seed), u in units[role].items():
            if model != "synthetic":
                groups[(task, variant, model)].append(u)
        for (task, variant, model), us in groups.items():
            y = by_name[task].labels[by_name[task].n_pool :]
            ok = np.array([_hard(u["final"]["test"]) == y for u in us], dtype=float)
            out.append(
                {
                    "task": task,
                    "variant": variant,
                    "model": model,
                    "split": split,
                    "acc": bootstrap(lambda x: x.mean(), {"x": ok}, cfg.bootstrap_resamples),
                }
            )
    return out


def _prompt_rows(cfg, by_name, units) -> list[dict]:
    groups = defaultdict(list)
    for (task, model, mode, sup, _seed), u in units["prompt"].items():
        groups[(task, model, mode, sup)].append(u)
    out = []
    for (task, model, mode, sup), us in groups.items():
        t = by_name[task]
        ok = np.array(
            [(np.asarray(u["scores"]) > 0) == t.labels[u["test_idx"]] for u in us], dtype=float
        )
        out.append(
            {
                "task": task,
                "model": model,
                "mode": mode,
                "supervisor": sup,
                "shots": cfg.experiments.prompting.shots,
                "acc": bootstrap(lambda x: x.mean(), {"x": ok}, cfg.bootstrap_resamples),
            }
        )
    return out


# ---- tables ------------------------------------------------------------------------------------


def _ci(x: dict, pct: bool = True) -> str:
    if x["mean"] is None:
        return "-"
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.2f}")
    return f(x["mean"]) + (f" [{f(x['ci'][0])}, {f(x['ci'][1])}]" if x["ci"] else "")


def short(name: str) -> str:
    """A ladder entry as a column value: a path's last part, a built-in or hub name as is."""
    return name.rstrip("/").rsplit("/", 1)[-1] if name.startswith(("/", ".")) else name


def tables(results: dict) -> list[Table]:
    gap = results["config"].get("min_gap", 0)
    main = Table(
        title=f"weak-to-strong: {results['name']} "
        "(test accuracy %; PGR with 95% CI over seeds x test items; "
        f"'-' where ceiling - weak < {100 * gap:g} points)"
    )
    for col in (
        "task",
        "variant",
        "weak -> strong",
        "loss",
        "weak",
        "student",
        "ceiling",
        "PGR [95% CI]",
        "agree",
        "agree|w right",
        "agree|w wrong",
    ):
        main.add_column(
            col, justify="left" if col in ("task", "variant", "weak -> strong", "loss") else "right"
        )
    mean = lambda x: "-" if x["mean"] is None else f"{100 * x['mean']:.1f}"  # noqa: E731
    for r in results["rows"]:
        a = r["agreement"]
        main.add_row(
            r["task"],
            r["variant"],
            " -> ".join(map(short, r["chain"])),
            r["loss"],
            mean(r["weak_acc"]),
            mean(r["student_acc"]),
            mean(r["ceiling_acc"]),
            _ci(r["pgr"], False),
            mean(a["all"]),
            mean(a["supervisor_right"]),
            mean(a["supervisor_wrong"]),
        )
    es = Table(
        title="early stopping: PGR of the checkpoint each criterion picks (oracle uses test labels)"
    )
    for col in ("task", "variant", "weak -> strong", "loss", *CRITERIA):
        es.add_column(col)
    for r in results["rows"]:
        e = r["early_stopping"]
        es.add_row(
            r["task"],
            r["variant"],
            " -> ".join(map(short, r["chain"])),
            r["loss"],
            *[
                ("-" if c not in e or e[c]["pgr"] is None else f"{e[c]['pgr']:.2f}")
                for c in CRITERIA
            ],
        )
    out = [main, es]
    if results["prompting"]:
        pt = Table(title="few-shot prompting (no training), test accuracy %")
        for col in ("task", "model", "mode", "supervisor", "acc"):
            pt.add_column(col)
        for r in results["prompting"]:
            pt.add_row(
                r["task"], short(r["model"]), r["mode"], short(r["supervisor"] or ""), _ci(r["acc"])
            )
        out.append(pt)
    return out
