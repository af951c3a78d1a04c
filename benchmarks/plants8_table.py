"""The README's tables from benchmarks/diff_plants8.py's results (no model, no CPU to speak of).

python benchmarks/plants8_table.py runs/plants8/results.json [runs/plants8/results-amp.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from plants import PLANTS  # noqa: E402


def _first(row: dict) -> str:
    v = row["validated"]
    if not v:
        return "none validated"
    f = v[0]
    src = f["dimension"] or f["source"]
    text = f["statement"] if f["source"] == "dimension" else f["label"]
    return f"{text} ({src}; AUC {f['auc']:.2f})"


def plant_table(res: dict, amp: dict | None) -> list[str]:
    head = (
        "| plant (kind, planted share of training answers) | texts showing it, B vs A "
        "| first validated finding | first match at rank | recall@1 | recall@3 |"
    )
    if amp:
        head += (
            " amplified x{a}: recall@1, @3 (labeling-half texts showing it, "
            "ordinary -> amplified) |"
        )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for p in PLANTS:
        row = res["planted"].get(p.name)
        if row is None:
            lines.append(
                f"| {p.name} ({p.kind}, {p.rate:.0%}) | not run | | | | |" + (" |" if amp else "")
            )
            continue
        tb, ta = row["texts_with_behavior_b"], row["texts_with_behavior_a"]
        n = row["texts"]
        cells = [
            f"{p.name} ({p.kind}, {p.rate:.0%}){' [held out]' if p.heldout else ''}",
            f"{tb}/{n[1]} vs {ta}/{n[0]}",
            _first(row),
            str(row["first_match_rank"] or "-"),
            "yes" if row["recall@1"] else "no",
            "yes" if row["recall@3"] else "no",
        ]
        if amp:
            a = amp["planted"].get(p.name)
            if a:
                lh = a["labeling_half_with_behavior"]
                cells.append(
                    f"{'yes' if a['recall@1'] else 'no'}, {'yes' if a['recall@3'] else 'no'} "
                    f"({lh['ordinary']} -> {lh['amplified']} of {lh['texts']})"
                )
            else:
                cells.append("not run")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    from driftlab.intervals import wilson

    res = json.loads(Path(sys.argv[1]).read_text())
    amp = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    lines = plant_table(res, amp)
    if amp:
        alpha = next(iter(amp["planted"].values()))["alpha"]
        lines[0] = lines[0].replace("{a}", f"{alpha:g}")
    print("\n".join(lines))
    ran = [r for r in res["planted"].values()]
    if ran:
        r1 = sum(r["recall@1"] for r in ran)
        r3 = sum(r["recall@3"] for r in ran)
        print(f"\nrecall@1 {r1}/{len(ran)}, recall@3 {r3}/{len(ran)}")
    nulls = res.get("null") or []
    if nulls:
        k = sum(n["validated"] > 0 for n in nulls)
        lo, hi = wilson(k, len(nulls))
        print(
            f"null pairs: {k}/{len(nulls)} with a validated finding "
            f"(Wilson 95% {lo:.2f}-{hi:.2f}); "
            f"validated findings {[n['validated'] for n in nulls]}; labels "
            f"{[lab for n in nulls for lab in n['validated_labels']]}"
        )
    print("\n".join(cost_lines(res.get("seconds", {}), (amp or {}).get("seconds", {}))))


def cost_lines(secs: dict[str, float], amp_secs: dict[str, float]) -> list[str]:
    """Wall minutes per plant and step; `-`: under 5 s, i.e. read from the cache of an
    earlier run that was stopped, so the step's cost was not timed."""

    def mins(table: dict[str, float], keys: list[str]) -> str:
        return " + ".join(f"{table[k] / 60:.1f}" if table.get(k, 0) >= 5 else "-" for k in keys)

    lines = ["minutes, train + sample + diff" + (" (amplified: sample + diff)" if amp_secs else "")]
    for p in PLANTS:
        if f"diff-{p.name}" not in secs:
            continue
        line = f"  {p.name}: {mins(secs, [f'{s}-{p.name}' for s in ('train', 'sample', 'diff')])}"
        if f"amp-diff-{p.name}" in amp_secs:
            line += f" ({mins(amp_secs, [f'amp-{s}-{p.name}' for s in ('sample', 'diff')])})"
        lines.append(line)
    nulls = [v for k, v in secs.items() if k.startswith("null-")]
    if nulls:
        lines.append(f"  null pairs: {sum(nulls) / 60:.1f} in all, {len(nulls)} pairs")
    return lines


if __name__ == "__main__":
    main()
