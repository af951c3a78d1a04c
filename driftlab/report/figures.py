"""Plotly figures for the report, returned as HTML fragments (plotly.js is embedded once by
the page).

Div ids are derived from the figure's name, not random, so rebuilding a report from the same
artifacts gives the same file.
"""

from __future__ import annotations

import math
import re
from typing import Any

import plotly.graph_objects as go

from driftlab.guard import Rule
from driftlab.intervals import changed

COLORS = {"value": "#1f5fa8", "baseline": "#777777", "tripwire": "#c62828", "fired": "#c62828"}
_LAYOUT = dict(
    template="plotly_white",
    height=280,
    margin=dict(l=50, r=20, t=40, b=40),
    font=dict(size=11),
    legend=dict(orientation="h", y=-0.25, font=dict(size=10)),
)


def _num(v: Any) -> float | None:
    """A plottable number, or None (a gap) for missing and NaN values."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
        return None
    return float(v)


def to_html(fig: go.Figure, name: str) -> str:
    div_id = "fig-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def rule_thresholds(rule: Rule, rounds: list[dict[str, Any]]) -> list[float | None]:
    """The rule's threshold at each round, as the guard computed it (round 0 has none)."""
    by_round = {r["round"]: r for r in rounds}
    base = by_round.get(0, {})
    out: list[float | None] = []
    for r in rounds:
        if r["round"] == 0:
            out.append(None)
            continue
        previous = by_round.get(r.get("parent", r["round"] - 1), {})
        out.append(_num(rule.threshold(base, previous)))
    return out


def metric_figure(
    metric: str, rounds: list[dict[str, Any]], rules: list[Rule], fired: dict[int, list[str]]
) -> go.Figure:
    """One metric across rounds: the value, the round-0 baseline, each tripwire's threshold.

    Rounds the guard did not promote are drawn as red crosses, so a reader sees which
    points the next round did not build on.
    """
    xs = [r["round"] for r in rounds]
    ys = [_num(r.get(metric)) for r in rounds]
    cis = [_ci(r, metric) for r in rounds]
    base_row = rounds[0] if rounds and rounds[0]["round"] == 0 else None
    marks = [base_row is not None and changed(metric, r, base_row) for r in rounds]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            name=metric + (" (95% CI)" if any(cis) else ""),
            line=dict(color=COLORS["value"]),
            marker=dict(
                symbol=["star" if m else "circle" for m in marks],
                size=[11 if m else 6 for m in marks],
            ),
            error_y=_error([{"mean": y, "ci": c} for y, c in zip(ys, cis)]) if any(cis) else None,
            connectgaps=True,
            customdata=[
                [f"{c[0]:.4g} to {c[1]:.4g}" if c else "none", "beyond noise" if m else ""]
                for c, m in zip(cis, marks)
            ],
            hovertemplate="round %{x}: %{y:.4g}<br>95% CI %{customdata[0]}"
            "<br>%{customdata[1]}<extra></extra>",
        )
    )
    if cis and cis[0] and base_row is not None:  # round 0's interval across the chart
        fig.add_hrect(
            y0=cis[0][0], y1=cis[0][1], fillcolor=COLORS["baseline"], opacity=0.12, line_width=0
        )
    rejected = [
        (r["round"], y)
        for r, y in zip(rounds, ys)
        if r.get("promoted") is False and r.get("status") == "trained" and y is not None
    ]
    if rejected:
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in rejected],
                y=[y for _, y in rejected],
                mode="markers",
                name="not promoted",
                marker=dict(symbol="x", size=11, color=COLORS["fired"]),
                hovertext=["; ".join(fired.get(x, [])) or "not promoted" for x, _ in rejected],
                hovertemplate="round %{x}: %{y:.4g}<br>%{hovertext}<extra></extra>",
            )
        )
    base = ys[0] if rounds and rounds[0]["round"] == 0 else None
    if base is not None:
        fig.add_trace(
            go.Scatter(
                x=[min(xs), max(xs)],
                y=[base, base],
                mode="lines",
                name="round 0 baseline",
                line=dict(color=COLORS["baseline"], dash="dash", width=1),
                hoverinfo="skip",
            )
        )
    for rule in rules:
        if rule.metric != metric:
            continue
        limits = rule_thresholds(rule, rounds)
        if rule.ref == "previous":  # moves with the parent round: one threshold per round
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=limits,
                    mode="lines+markers",
                    name=f"tripwire: {rule.text}",
                    line=dict(color=COLORS["tripwire"], dash="dot", width=1.5, shape="hv"),
                    marker=dict(size=4),
                )
            )
        else:
            level = next(
                (v for v in limits if v is not None), rule.offset if rule.ref is None else None
            )
            if level is not None:
                fig.add_trace(
                    go.Scatter(
                        x=[min(xs), max(xs)],
                        y=[level, level],
                        mode="lines",
                        name=f"tripwire: {rule.text}",
                        line=dict(color=COLORS["tripwire"], dash="dot", width=1.5),
                    )
                )
    note = (
        "95% CI; grey band: round 0's; ★ beyond noise"
        if any(cis)
        else "no interval: not measured over held-out items"
    )
    fig.update_layout(
        title=dict(text=f"{metric}<br><sup>{note}</sup>", font=dict(size=13)), **_LAYOUT
    )
    fig.update_xaxes(title_text="round", dtick=1)
    return fig


def _ci(row: dict[str, Any], metric: str) -> list[float] | None:
    """The round's stored interval for metric, when both ends are numbers."""
    ci = (row.get("ci") or {}).get(metric)
    if not ci or len(ci) != 2 or any(_num(v) is None for v in ci):
        return None
    return [float(ci[0]), float(ci[1])]


def loss_figure(curves: dict[int, list[float]]) -> go.Figure:
    """Training loss per optimizer step, one line per round."""
    fig = go.Figure()
    for k, losses in sorted(curves.items()):
        fig.add_trace(
            go.Scatter(y=[_num(v) for v in losses], mode="lines+markers", name=f"round {k}")
        )
    fig.update_layout(
        title=dict(text="training loss per logged step", font=dict(size=13)), **_LAYOUT
    )
    fig.update_xaxes(title_text="logged step")
    return fig


def calibration_figure(tables: dict[int, list[dict[str, Any]]]) -> go.Figure:
    """Reliability diagram of vote share against correctness, one line per round."""
    fig = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect calibration",
            line=dict(color=COLORS["baseline"], dash="dash", width=1),
            hoverinfo="skip",
        )
    )
    for k, rows in sorted(tables.items()):
        fig.add_trace(
            go.Scatter(
                x=[r["confidence"] for r in rows],
                y=[r["accuracy"] for r in rows],
                mode="lines+markers",
                name=f"round {k}",
                marker=dict(size=[4 + 2 * math.sqrt(r.get("n", 1)) for r in rows]),
                hovertext=[f"bin {r.get('bin')}, n={r.get('n')}" for r in rows],
                hovertemplate="%{hovertext}<br>confidence %{x:.2f}, accuracy %{y:.2f}"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text="calibration: vote share vs. accuracy", font=dict(size=13)), **_LAYOUT
    )
    fig.update_xaxes(title_text="vote share (confidence)", range=[0, 1])
    fig.update_yaxes(title_text="accuracy", range=[0, 1])
    return fig


# ---- diff ------------------------------------------------------------------------------------
MODEL_COLORS = {"a": "#1f77b4", "b": "#d62728"}


def _wrap(text: str, width: int = 60, limit: int = 240) -> str:
    text = text[:limit] + ("…" if len(text) > limit else "")
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) > width:
            lines.append(line)
            line = ""
        line += (" " if line else "") + w
    return "<br>".join([*lines, line])


def map_figure(m: dict[str, Any], doc: dict[str, Any]) -> go.Figure:
    """Every text on the 2-D projection, coloured by model; each finding's label at its cluster."""
    pts = m.get("points") or []
    names = {"a": f"A: {doc.get('model_a', 'model A')}", "b": f"B: {doc.get('model_b', 'model B')}"}
    fig = go.Figure()
    for who in ("a", "b"):
        mine = [p for p in pts if p.get("model") == who]
        fig.add_trace(
            go.Scatter(
                x=[p["x"] for p in mine],
                y=[p["y"] for p in mine],
                mode="markers",
                name=names[who],
                marker=dict(color=MODEL_COLORS[who], size=6, opacity=0.6),
                customdata=[[p.get("cluster"), p.get("category", "")] for p in mine],
                hovertext=[_wrap(str(p.get("text", ""))) for p in mine],
                hovertemplate="cluster %{customdata[0]} · %{customdata[1]}<br>%{hovertext}"
                "<extra></extra>",
            )
        )
    for f in doc.get("findings") or []:
        inside = [p for p in pts if p.get("cluster") == f.get("cluster")]
        if inside:
            fig.add_annotation(
                x=sum(p["x"] for p in inside) / len(inside),
                y=sum(p["y"] for p in inside) / len(inside),
                text=f"#{f.get('rank')}: {f.get('label', '')[:40]}",
                showarrow=True,
                arrowhead=2,
                font=dict(size=10),
                bgcolor="rgba(255,255,255,0.8)",
            )
    var = m.get("explained_variance") or []
    method = (m.get("method") or "projection").upper()
    axis = [
        f"{method} {i + 1}" + (f" ({var[i]:.0%} of variance)" if i < len(var) else "")
        for i in range(2)
    ]
    fig.update_layout(
        title=dict(text="2-D map of every text", font=dict(size=13)), **{**_LAYOUT, "height": 520}
    )
    fig.update_xaxes(title_text=axis[0])
    fig.update_yaxes(title_text=axis[1])
    return fig


def cluster_share_figure(clusters: list[dict[str, Any]]) -> go.Figure:
    """Each cluster's share of A's and of B's texts; * marks a significant difference (BH q <
    alpha)."""
    cs = sorted(clusters, key=lambda c: c.get("id", 0))
    xs = [f"{c.get('id')}{' *' if c.get('significant') else ''}" for c in cs]
    fig = go.Figure()
    for who in ("a", "b"):
        fig.add_trace(
            go.Bar(
                x=xs,
                y=[_num(c.get(f"share_{who}")) for c in cs],
                name=f"share of {who.upper()}'s texts",
                marker_color=MODEL_COLORS[who],
                customdata=[[c.get(f"n_{who}"), _num(c.get("q"))] for c in cs],
                hovertemplate="cluster %{x}: %{y:.1%} (n=%{customdata[0]}, q=%{customdata[1]:.2g})"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text="cluster shares (* significant)", font=dict(size=13)),
        barmode="group",
        **_LAYOUT,
    )
    fig.update_xaxes(title_text="cluster", type="category")
    fig.update_yaxes(tickformat=".0%")
    return fig


# ---- weak-to-strong ------------------------------------------------------------------------
# These figures get a full row: their legends (one entry per supervisor and loss) sit on the right.
_WIDE = dict(
    height=380,
    legend=dict(orientation="v", x=1.02, y=1, font=dict(size=10)),
    margin=dict(l=60, r=20, t=40, b=90),
)


def _error(values: list[dict | None]) -> dict[str, Any]:
    """Asymmetric error bars from {"mean", "ci": [lo, hi]} (no bar where the CI is null)."""
    up: list[float | None] = []
    down: list[float | None] = []
    for v in values:
        ci, mean = (v or {}).get("ci"), _num((v or {}).get("mean"))
        if ci and mean is not None and _num(ci[0]) is not None and _num(ci[1]) is not None:
            up.append(ci[1] - mean)
            down.append(mean - ci[0])
        else:
            up.append(None)
            down.append(None)
    return dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=1)


def w2s_accuracy_figure(
    task: str, rows: list[dict], truth: list[dict], models: dict[str, dict], short
) -> go.Figure:
    """Student accuracy against the strong model's size, one line per supervisor (and loss),
    with each model trained on ground truth (the ceiling) for reference."""
    size = {n: m.get("params") for n, m in models.items()}
    use_params = all(isinstance(size.get(r.get("strong", "")), (int, float)) for r in rows)
    x_of = (
        (lambda name: size.get(name))
        if use_params
        else (lambda name: models.get(name, {}).get("rank"))
    )
    base = [r for r in rows if r.get("variant") == "baseline"] or rows
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    losses = sorted({r.get("loss") for r in base}, key=str)
    for weak in dict.fromkeys(r.get("weak") for r in base):
        for loss in losses:
            line = sorted(
                [r for r in base if r.get("weak") == weak and r.get("loss") == loss],
                key=lambda r: x_of(r.get("strong")) or 0,
            )
            if not line:
                continue
            accs = [r.get("student_acc") for r in line]
            fig.add_trace(
                go.Scatter(
                    x=[x_of(r.get("strong")) for r in line],
                    y=[_num((a or {}).get("mean")) for a in accs],
                    error_y=_error(accs),
                    mode="lines+markers",
                    name=f"supervised by {short(weak)} ({loss})",
                    line=dict(dash=dashes[losses.index(loss) % len(dashes)]),
                    hovertext=[short(r.get("strong")) for r in line],
                    hovertemplate="student %{hovertext}: %{y:.3f}<extra></extra>",
                )
            )
    for split, name, dash in (
        ("b", "trained on truth (ceiling)", "dash"),
        ("a", "supervisor itself (trained on A)", "dot"),
    ):
        pts = sorted(
            [
                t
                for t in truth
                if t.get("split") == split and t.get("variant", "baseline") == "baseline"
            ],
            key=lambda t: x_of(t.get("model")) or 0,
        )
        if pts:
            fig.add_trace(
                go.Scatter(
                    x=[x_of(t.get("model")) for t in pts],
                    y=[_num((t.get("acc") or {}).get("mean")) for t in pts],
                    error_y=_error([t.get("acc") for t in pts]),
                    mode="lines+markers",
                    name=name,
                    line=dict(color="#444" if split == "b" else "#999", dash=dash),
                    hovertext=[short(t.get("model")) for t in pts],
                    hovertemplate="%{hovertext}: %{y:.3f}<extra></extra>",
                )
            )
    fig.update_layout(
        title=dict(text=f"{task}: test accuracy vs. strong model size", font=dict(size=13)),
        **{**_LAYOUT, **_WIDE},
    )
    fig.update_xaxes(
        title_text="parameters of the student" if use_params else "rank in the ladder",
        type="log" if use_params else "linear",
        tickformat="~s",
    )
    fig.update_yaxes(title_text="test accuracy")
    return fig


def pgr_figure(task: str, rows: list[dict], short, what: str = "") -> go.Figure:
    """Performance gap recovered per (supervisor -> student) pair, one bar per loss, 95% CIs."""

    def pair(r: dict) -> str:
        tag = "" if r.get("variant") == "baseline" else f" [{r.get('variant')}]"
        return f"{short(r.get('weak'))} → {short(r.get('strong'))}{tag}"

    fig = go.Figure()
    for loss in dict.fromkeys(r.get("loss") for r in rows):
        mine = [r for r in rows if r.get("loss") == loss]
        fig.add_trace(
            go.Bar(
                x=[pair(r) for r in mine],
                y=[_num((r.get("pgr") or {}).get("mean")) for r in mine],
                error_y=_error([r.get("pgr") for r in mine]),
                name=str(loss),
                hovertemplate="%{x}: PGR %{y:.2f}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line=dict(color="#999", width=1))
    fig.add_hline(y=1, line=dict(color="#999", width=1, dash="dot"))
    fig.update_layout(
        title=dict(text=f"{task}: performance gap recovered{what} (95% CI)", font=dict(size=13)),
        barmode="group",
        **{**_LAYOUT, **_WIDE},
    )
    fig.update_xaxes(type="category", tickangle=-30)
    fig.update_yaxes(title_text="PGR")
    return fig
