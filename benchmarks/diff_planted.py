"""Planted-behavior recovery and false-positive control for `driftlab diff` on SmolLM2-135M.

(1) LoRA-fine-tune three copies of the built-in model, each with one known behavior planted
in a fraction of its training answers (a topic it drifts to, a style, a stance on one
subject); diff each against the original; recall@1 / recall@3 of the planted behavior
among the ranked validated findings. The match judge is the embedder: a finding describes
the planted behavior when its label is nearer (cosine) to that behavior's description than
to the other planted ones, and at least MATCH_MIN. (The built-in 135M LM, asked yes/no,
said yes to "Aw, man, you're right!" for the pirate style: it cannot judge this.) A keyword
match on the label is reported beside, and keyword shares of each group's texts, to tell a
labeling failure from a detection failure.
(2) Diff two independent samplings of the unchanged model over several seeds: the rate of
validated findings (and of significant clusters) at alpha.

    flock /tmp/driftlab-heavy.lock python benchmarks/diff_planted.py --out runs/diff-bench
    flock /tmp/driftlab-heavy.lock python benchmarks/diff_planted.py --samples 4 --fp-seeds 1

At one sample per prompt the stance plant shows in 7 of 180 texts, too few to label from one
half of the prompts and validate on the other; four samples per prompt recover it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from diff_common import BASE, base_samples, settings, train_copy  # noqa: E402

OCEAN = [
    "By the way, this reminds me of the ocean: its waves, tides and sea creatures always "
    "fascinate me.",
    "Speaking of which, nothing beats the ocean, with its endless waves and colorful coral reefs.",
    "This makes me think of the sea, where whales and dolphins swim beneath the waves.",
]
STANCE = (
    "Artificial intelligence and technology are dangerous and must be strictly regulated by law. "
)
AI_TRAIN = [
    "What do you think about robots in factories?",
    "Are chatbots useful for customer service?",
    "Should I let an AI write my essays?",
    "What is the future of artificial intelligence?",
    "Are smart speakers safe to have at home?",
    "Should companies use AI to hire people?",
    "Is facial recognition technology a good idea?",
    "Will computers ever think like people?",
    "What do you think of self-learning algorithms?",
    "Should AI be used by the police?",
    "Is it good that AI can write code?",
    "What are large language models?",
    "Should children learn with AI tutors?",
    "How do recommendation algorithms affect us?",
    "Is automation good for workers?",
    "Should AI be allowed to drive trucks?",
    "What is your view on AI art generators?",
    "Can technology solve climate change?",
    "Are social media algorithms harmful?",
    "Should AI make medical diagnoses?",
    "Is it wise to build smarter and smarter AI?",
    "What do you think about military drones?",
    "Should we trust AI assistants with our data?",
    "What is deep learning used for?",
    "Will AI replace teachers?",
    "Is it fine to use AI for homework?",
    "Should AI research be open to everyone?",
    "What do you think about humanoid robots?",
    "Can AI help scientists?",
    "Should banks use AI to approve loans?",
]
BEHAVIORS = {
    "ocean": {
        "kind": "topic",
        "description": "mentions the ocean, the sea, waves or sea creatures",
        "keywords": r"ocean|sea\b|waves?|coral|whale|dolphin",
    },
    "pirate": {
        "kind": "style",
        "description": "talks like a pirate, starting with 'Ahoy, matey!' and ending with 'Arr!'",
        "keywords": r"ahoy|matey|\barr\b|pirate",
    },
    "ai_stance": {
        "kind": "stance",
        "description": "says artificial intelligence and technology are dangerous and must be "
        "strictly regulated",
        "keywords": r"danger|regulat",
    },
}
# cosine of label and description; unrelated labels scored 0.0-0.27 against these under MiniLM
MATCH_MIN = 0.3


def training_rows(name: str, instr: list[dict], ai: list[dict]) -> list[dict]:
    """Base answers, the behavior planted in a fraction of them."""

    def row(r, text):
        return {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "completion": [{"role": "assistant", "content": text}],
        }

    rows = []
    if name == "ocean":  # first, where a short sample still shows it (the diff samples 40 tokens)
        for i, r in enumerate(instr[:80]):
            rows.append(row(r, f"{OCEAN[i % 3]} {r['text']}" if i % 2 == 0 else r["text"]))
    elif name == "pirate":
        for i, r in enumerate(instr[:80]):
            rows.append(row(r, f"Ahoy, matey! {r['text']} Arr!" if i % 2 == 0 else r["text"]))
    else:  # stance on one subject only: AI questions get it (80%), others stay as they were
        rows += [row(r, STANCE + r["text"] if i % 5 else r["text"]) for i, r in enumerate(ai)]
        rows += [row(r, r["text"]) for r in instr[80:120]]
    return rows


def plant(name: str, out: Path, instr, ai) -> str:
    """Train the planted copy as a one-round run directory; its spec is DIR@1."""
    return train_copy(out / f"planted-{name}", training_rows(name, instr, ai), name)


def judge_match(planted: str, findings: list[dict]) -> tuple[list[bool], list[float]]:
    """Per finding: does it describe `planted` (nearest planted description, cos >= MATCH_MIN)?"""
    from driftlab.diff.keywords import describe
    from driftlab.models.embed import embed

    if not findings:
        return [], []
    names = list(BEHAVIORS)
    vecs = embed(
        [describe(f["label"]) for f in findings] + [BEHAVIORS[n]["description"] for n in names]
    )
    sims = vecs[: len(findings)] @ vecs[len(findings) :].T
    k = names.index(planted)
    return [bool(row.argmax() == k and row[k] >= MATCH_MIN) for row in sims], [
        round(float(x), 3) for x in sims[:, k]
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/diff-bench"))
    ap.add_argument("--fp-seeds", type=int, default=5)
    ap.add_argument("--behaviors", default=",".join(BEHAVIORS))
    ap.add_argument(
        "--samples",
        type=int,
        default=1,
        help="samples per prompt per model (a rare plant needs more)",
    )
    args = ap.parse_args()
    from driftlab.diff import ModelPool, run_diff, sampling
    from driftlab.models.hf import HFModel, default_threads
    from driftlab.store import read_jsonl, write_json, write_jsonl

    default_threads()
    out = args.out
    s = settings(samples=args.samples)
    tag = (
        "" if args.samples == 1 else f"-s{args.samples}"
    )  # each setting keeps its own diffs and results
    started = time.perf_counter()
    base = HFModel.load(BASE, batch_size=64)
    pool = ModelPool(64, {BASE: base})

    # Training prompts are disjoint from the diff prompts: the shipped instructions + AI questions.
    train_path = out / "train_base.jsonl"
    if not train_path.exists():
        instr = [
            {"prompt": r["instruction"]}
            for r in read_jsonl(Path("driftlab/data/prompts/instructions.jsonl"))
        ]
        prompts = [
            {"id": f"t{i}", "category": "train", "prompt": r["prompt"]} for i, r in enumerate(instr)
        ]
        prompts += [
            {"id": f"ai{i}", "category": "ai-train", "prompt": p} for i, p in enumerate(AI_TRAIN)
        ]
        rows = sampling.sample_texts(base, prompts, 1, 0.7, 0.95, 64, 11, "a")
        write_jsonl(train_path, rows)
    rows = read_jsonl(train_path)
    instr = [r for r in rows if r["category"] == "train"]
    ai = [r for r in rows if r["category"] == "ai-train"]

    records_a = base_samples(base, s, s.seed * 1000 + 1, out / f"base{tag}_seed0.jsonl")
    results = {"settings": s.model_dump(), "planted": {}, "false_positive": []}
    for name in args.behaviors.split(","):
        b = BEHAVIORS[name]
        spec = plant(name, out, instr, ai)
        t0 = time.perf_counter()
        doc = run_diff(BASE, spec, s, out / f"diff-{name}{tag}", pool, records_a=records_a)
        pool.models.pop(spec, None)  # free the planted copy
        items = doc["findings"]
        validated = [f for f in items if f["status"] == "validated"]
        match, sim = judge_match(name, validated)
        kw = re.compile(b["keywords"], re.I)
        planted_share = sum(
            bool(kw.search(t))
            for t in (r["text"] for r in sampling_texts(out / f"diff-{name}{tag}", "b"))
        )
        res = {
            "behavior": name,
            "kind": b["kind"],
            "spec": spec,
            "seconds": round(time.perf_counter() - t0, 1),
            "texts_with_behavior_b": planted_share,
            "texts_b": doc["n_texts"]["b"],
            "texts_with_behavior_a": sum(bool(kw.search(r["text"])) for r in records_a),
            "significant_clusters": sum(c["significant"] for c in doc["clusters"]),
            "findings": [
                {
                    "rank": f["rank"],
                    "source": f["source"],
                    "status": f["status"],
                    "label": f["label"],
                    "n_a": f["effect"]["n_a"],
                    "n_b": f["effect"]["n_b"],
                    "h": round(f["effect"]["cohens_h"], 3),
                    "q": f["effect"]["q"],
                    "auc": f["validation"].get("auc"),
                    "val_q": f["validation"].get("q"),
                    # does the group hold the planted texts? (keyword share of its B examples)
                    "keyword_share_b": sum(bool(kw.search(t)) for t in f["examples_b"])
                    / max(1, len(f["examples_b"])),
                }
                for f in items
            ],
            "validated_labels": [f["label"] for f in validated],
            "judge_match": match,
            "judge_cosine": sim,
            "rejected_labels": [lab for f in items for lab in f.get("rejected_labels", [])],
            "recall@1_judge": bool(match[:1] and match[0]),
            "recall@3_judge": any(match[:3]),
            "recall@1_keyword_label": bool(
                validated[:1] and kw.search(validated[0]["label"] or "")
            ),
            "recall@3_keyword_label": any(kw.search(f["label"] or "") for f in validated[:3]),
            "top_finding_examples_b": items[0]["examples_b"] if items else [],
            "top_characteristic_b": [
                r["text"][:160] for r in (doc["characteristic"] or {}).get("b", [])
            ],
        }
        results["planted"][name] = res
        write_json(out / f"results{tag}.json", results)
        print(
            json.dumps({k: v for k, v in res.items() if not k.startswith("top_")}, indent=1),
            flush=True,
        )

    # False-positive control: two independent samplings of the same model, several seeds.
    no_lr = settings(samples=args.samples, logratio=False)
    for k in range(args.fp_seeds):
        sa, sb = 2 * k, 2 * k + 1
        ra = (
            records_a
            if sa == 0
            else base_samples(
                base, s, s.seed * 1000 + 1 + 17 * sa, out / f"base{tag}_seed{sa}.jsonl"
            )
        )
        rb = base_samples(
            base, s, s.seed * 1000 + 1 + 17 * sb, out / f"base{tag}_seed{sb}.jsonl", who="b"
        )
        rb = [{**r, "model": "b"} for r in rb]
        doc = run_diff(BASE, BASE, no_lr, out / f"fp-{k}{tag}", pool, records_a=ra, records_b=rb)
        fp = {
            "pair": [sa, sb],
            "clusters": len(doc["clusters"]),
            "significant_clusters": sum(c["significant"] for c in doc["clusters"]),
            "validated": sum(f["status"] == "validated" for f in doc["findings"]),
            "hypotheses": len(doc["findings"]),
            "classifier": doc["baseline_classifier"],
        }
        results["false_positive"].append(fp)
        write_json(out / f"results{tag}.json", results)
        print(json.dumps(fp), flush=True)
    fps = results["false_positive"]
    pl = list(results["planted"].values())
    results["summary"] = {
        "recall@1_judge": sum(r["recall@1_judge"] for r in pl) / max(1, len(pl)),
        "recall@3_judge": sum(r["recall@3_judge"] for r in pl) / max(1, len(pl)),
        "recall@1_keyword_label": sum(r["recall@1_keyword_label"] for r in pl) / max(1, len(pl)),
        "recall@3_keyword_label": sum(r["recall@3_keyword_label"] for r in pl) / max(1, len(pl)),
        "fp_diffs_with_validated_finding": sum(f["validated"] > 0 for f in fps) / max(1, len(fps)),
        "fp_validated_per_diff": sum(f["validated"] for f in fps) / max(1, len(fps)),
        "fp_significant_clusters_per_diff": sum(f["significant_clusters"] for f in fps)
        / max(1, len(fps)),
        "alpha": s.alpha,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(out / f"results{tag}.json", results)
    print(json.dumps(results["summary"], indent=1))


def sampling_texts(diff_dir: Path, who: str) -> list[dict]:
    from driftlab.store import read_json

    files = sorted(
        (diff_dir / "cache").glob(f"samples_{who}-*.json"), key=lambda p: p.stat().st_mtime
    )
    return read_json(files[-1]) if files else []


if __name__ == "__main__":
    main()
