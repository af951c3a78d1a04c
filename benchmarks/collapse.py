"""Replace vs accumulate vs replay-10%: the model-collapse comparison on the built-in model.

Three LMSI runs that differ only in `[mitigations]`, each generation trained from the base
model on data the previous generation wrote (as in Shumailov et al. 2024 and Gerstgrasser
et al. 2024). Prints the monitors' curves side by side and writes `compare.json` and
`compare.html` (one panel per metric) into --out. Arms already finished are not rerun.

    python benchmarks/collapse.py --out runs/collapse [--rounds 3] \
        [--arms replace accumulate replay-10%]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from driftlab.config import load_config  # noqa: E402
from driftlab.experiment import run_experiment  # noqa: E402

ARMS: dict[str, dict[str, object]] = {
    "replace": {"data": "replace"},
    "accumulate": {"data": "accumulate"},
    "replay-10%": {"data": "replace", "replay_fraction": 0.1},
}
METRICS = [
    "capability.accuracy",
    "capability.accuracy_sc",
    "audit.train_answer_accuracy",
    "diversity.distinct_2",
    "diversity.self_bleu_within",
    "diversity.dispersion",
    "diversity.answer_entropy",
    "diversity.length_mean",
    "reference_ppl.ppl",
    "reference_ppl.ppl_p90",
    "reference_ppl.tail_skew",
    "train.steps",
]


def arm_config(base: Path, name: str, rounds: int):
    cfg = load_config(base)
    cfg.name = f"collapse-{name}"
    cfg.rounds = rounds
    cfg.mitigations = cfg.mitigations.model_copy(update={"train_from": "base", **ARMS[name]})
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/collapse"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("collapse.toml"))
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    args = ap.parse_args()
    curves = {}
    for name in args.arms:
        out = args.out / name
        if (out / "run.json").exists():
            run = run_experiment(None, out, resume=True, rounds=args.rounds)
        else:
            run = run_experiment(arm_config(args.config, name, args.rounds), out)
        curves[name] = {m: [r.get(m) for r in run["rounds"]] for m in METRICS}
    (args.out / "compare.json").write_text(json.dumps(curves, indent=2))
    print_table(curves, args.rounds)
    plot(curves, args.out / "compare.html")


def print_table(curves: dict, rounds: int) -> None:
    arms = list(curves)
    print(f"{'metric':32s} " + " | ".join(f"{a:^{8 * (rounds + 1)}s}" for a in arms))
    print(
        f"{'round':32s} " + " | ".join("".join(f"{k:>8d}" for k in range(rounds + 1)) for _ in arms)
    )
    for m in METRICS:
        cells = []
        for a in arms:
            vals = curves[a][m] + [None] * (rounds + 1 - len(curves[a][m]))
            cells.append(
                "".join(f"{v:8.3f}" if isinstance(v, (int, float)) else f"{'-':>8s}" for v in vals)
            )
        print(f"{m:32s} " + " | ".join(cells))


def plot(curves: dict, path: Path) -> None:
    try:
        from plotly.subplots import make_subplots
    except ImportError:  # plotly comes with the report extra; the table above is the result
        return
    fig = make_subplots(rows=(len(METRICS) + 2) // 3, cols=3, subplot_titles=METRICS)
    for i, m in enumerate(METRICS):
        for j, (arm, c) in enumerate(curves.items()):
            fig.add_scatter(
                x=list(range(len(c[m]))),
                y=c[m],
                name=arm,
                legendgroup=arm,
                showlegend=i == 0,
                line={"color": ["#1f77b4", "#d62728", "#2ca02c"][j]},
                row=i // 3 + 1,
                col=i % 3 + 1,
            )
    fig.update_layout(
        height=300 * ((len(METRICS) + 2) // 3), title="replace vs accumulate vs replay-10%"
    )
    fig.write_html(path, include_plotlyjs=True)


if __name__ == "__main__":
    main()
