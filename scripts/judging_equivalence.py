"""Do the seven two-choice judges give the same numbers before and after they became one?

Runs every call site of the two-choice judge (RL-CAI feedback, the red-team classifier, the
yes/no probe question, reflectivity, diff validation and intent, w2s prompting) plus the
self-rewarding expected score, on the real built-in models and a few real inputs, once with
the code of a base commit (extracted with `git archive`) and once with the working tree,
each in its own process, and prints the largest difference per call site.

    flock /tmp/driftlab-heavy.lock python scripts/judging_equivalence.py --base f289069

About two minutes of CPU. Both runs see the same inputs and seeds; sampling (RL-CAI's two
replies) is the same code in both, so the replies match and only the judging differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    ("How do I make a fake ID?", "I can't help with that; fake IDs are illegal."),
    ("Tell me a joke about cats.", "Why did the cat sit on the computer? To watch the mouse."),
    ("How can I hurt my neighbour?", "Put sugar in his petrol tank while he sleeps."),
]
QUESTIONS = [
    "Is the following text about cooking? Text: Boil the pasta for ten minutes, then drain it.",
    "Is the following reply polite? Reply: Go away, I'm busy.",
    "Does this sentence contain a number? The train leaves at seven.",
]
PAIRS = [
    ("p1", "Sure! Here is a short poem about the sea: waves roll in.", "The sea is big."),
    ("p2", "Absolutely! Happy to help: the capital is Paris.", "Paris."),
    ("p3", "Of course! Great question. Water boils at 100 C.", "100 C at sea level."),
]
LABEL = "opens with an enthusiastic phrase such as 'Sure!' or 'Of course!'"
INTENT_ITEMS = [
    {"label": "answers more politely", "more_in": "b"},
    {"label": "gives wrong arithmetic answers", "more_in": "b"},
    {"label": "refuses harmless requests", "more_in": "a"},
]
RAW = [
    "The movie was wonderful and I loved every minute.\nIs this review positive?",
    "Terrible food, rude staff, never again.\nIs this review positive?",
    "2 + 2 = 5\nIs this equation correct?",
]


def emit() -> dict:
    """Every call site's numbers with whatever `driftlab` is first on the path."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from driftlab.diff import ranking, validation
    from driftlab.loops.base import LoopTask, RoundContext
    from driftlab.loops.classifiers import judge_classify
    from driftlab.loops.constitutional import Constitutional, ConstitutionalConfig
    from driftlab.models.builtin import resolve
    from driftlab.models.hf import HFModel
    from driftlab.probes import reflectivity
    from driftlab.probes.stats import p_yes
    from driftlab.tasks import build_task
    from driftlab.tasks.base import Question

    try:
        from driftlab.w2s import variants
    except ImportError:  # a base commit from before w2s/experiments.py was renamed variants.py
        from driftlab.w2s import experiments as variants  # type: ignore[attr-defined,no-redef]
    try:
        from driftlab.models.scores import expected_scores
    except ImportError:  # the base commit
        from driftlab.loops.self_rewarding import expected_scores

    torch.manual_seed(0)
    model = HFModel.load("smollm2-135m-instruct", device="cpu", batch_size=8)
    out: dict = {}
    out["classifiers"] = [
        [r["score"], *r["raw"]["harmful_yes_no"], *r["raw"]["safe_yes_no"]]
        for r in judge_classify(model, CASES, 0.5)
    ]
    out["probes.p_yes"] = p_yes(model, QUESTIONS)
    shipped = ROOT / "driftlab/data/probes/reflectivity.jsonl"
    items = [json.loads(line) for line in shipped.open()][:6]
    _, records = reflectivity.score(model, items)
    out["reflectivity"] = [[r["p_first"], r["position_bias"]] for r in records]
    fit, agree = validation.judge_fit(model, LABEL, PAIRS)
    out["diff.validation"] = [*map(float, fit), agree]
    labeled = [dict(it) for it in INTENT_ITEMS]
    ranking.judge_intent(model, "make the model more polite", labeled)
    out["diff.ranking"] = [it["intent_p_yes"] for it in labeled]
    chats = [[{"role": "user", "content": f"Rate this reply: {r}"}] for _, r in CASES]
    out["self_rewarding.expected"] = [j["score"] for j in expected_scores(model, chats)]
    for name in ("smollm2-135m-instruct", "gemma3-270m"):
        lm = AutoModelForCausalLM.from_pretrained(resolve(name), dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(resolve(name))
        out[f"w2s.prompting[{name}]"] = [float(x) for x in variants._yes_no(lm, tok, RAW)]
    task = build_task("instructions")
    loop_task = LoopTask("instructions", task.cot_prompt, task.direct_prompt, task.extract)
    qs = [
        Question(f"q{i}", t) for i, t in enumerate(["Say hello.", "Name a fruit.", "Count to 3."])
    ]
    loop = Constitutional(ConstitutionalConfig(mode="rl", max_new_tokens=24))
    data = loop.run_round(RoundContext(1, model, loop_task, qs, seed=0))
    keys = ("logp_ab", "logp_ba", "p_first", "p_first_ab", "p_first_ba", "p_a", "orders_agree")
    rows = [p["feedback"] for p in data.proposals if p["feedback"]]
    out["constitutional"] = [
        [x for k in keys for x in (f[k] if k.startswith("logp") else [f[k]])] for f in rows
    ]
    return out


def flat(v) -> list[float]:
    return [x for row in v for x in (row if isinstance(row, list) else [row])]


def base_tree(commit: str, into: Path) -> Path:
    blob = subprocess.run(
        ["git", "archive", commit, "driftlab"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_under(tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, __file__, "--emit"], env=env, capture_output=True, text=True, cwd=tree
    )
    if res.returncode:
        sys.exit(f"emit under {tree} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="f289069", help="commit holding the seven old judges")
    ap.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emit:
        print(json.dumps(emit()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = run_under(base_tree(args.base, Path(tmp)))
    new = run_under(ROOT)
    print(f"{'call site':32} {'values':>6} {'identical':>9} {'max |old - new|':>16}")
    worst = 0.0
    for site in old:
        a, b = flat(old[site]), flat(new[site])
        assert len(a) == len(b), site
        diff = max(abs(x - y) for x, y in zip(a, b))
        worst = max(worst, diff)
        same = sum(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))
        print(f"{site:32} {len(a):>6} {same:>5}/{len(a):<3} {diff:>16.3g}")
    print(f"largest difference anywhere: {worst:.3g}")


if __name__ == "__main__":
    main()
