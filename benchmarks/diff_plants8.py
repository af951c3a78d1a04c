"""Eight planted behaviors (benchmarks/plants.py) and null pairs: what `driftlab diff` recovers.

Phases, each resumable (every artifact cached under --out), run in this order under the lock:

    flock /tmp/driftlab-heavy.lock python benchmarks/diff_plants8.py --phase train
    flock /tmp/driftlab-heavy.lock python benchmarks/diff_plants8.py --phase sample
    flock /tmp/driftlab-heavy.lock python benchmarks/diff_plants8.py --phase diff
    flock /tmp/driftlab-heavy.lock python benchmarks/diff_plants8.py --phase null --null-pairs 10

`train` LoRA-trains one copy per plant; `sample` draws one ordinary sample per prompt of the
base (A) and of each copy (B); `diff` diffs each copy against the base and scores the ranked
validated findings with the committed match rule (recall@1, recall@3); `null` diffs two
independent samplings of the unchanged model per seed pair (false positives). Seconds per
step are recorded, so the cost in minutes is read from results.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from diff_common import BASE, settings, train_copy  # noqa: E402
from diff_planted import AI_TRAIN  # noqa: E402
from plants import BY_NAME, PLANTS, finding_matches, training_rows  # noqa: E402

# One epoch at twice diff_planted.py's learning rate: two epochs took 18 min a plant on the
# shared 2-core CPU, too long for eight (changed for cost before any plant was diffed).
TRAIN = (1, 2e-3)


def _timed(results: dict, key: str, t0: float) -> None:
    """The step's wall time. A rerun that found the step cached (seconds instead of
    minutes) keeps the cost measured when it ran, so `make figures` does not erase it."""
    secs, seconds = round(time.perf_counter() - t0, 1), results.setdefault("seconds", {})
    if secs >= seconds.get(key, 0.0) or secs > 30:
        seconds[key] = secs


def train_base(out: Path, base) -> tuple[list[dict], list[dict]]:
    """The base model's answers to the training prompts (disjoint from the diff prompts)."""
    from driftlab.diff import sampling
    from driftlab.store import read_jsonl, write_jsonl

    path = out / "train_base.jsonl"
    if not path.exists():
        instr = read_jsonl(Path("driftlab/data/prompts/instructions.jsonl"))
        prompts = [
            {"id": f"t{i}", "category": "train", "prompt": r["instruction"]}
            for i, r in enumerate(instr)
        ]
        prompts += [
            {"id": f"ai{i}", "category": "ai-train", "prompt": p} for i, p in enumerate(AI_TRAIN)
        ]
        write_jsonl(path, sampling.sample_texts(base(), prompts, 1, 0.7, 0.95, 64, 11, "a"))
    rows = read_jsonl(path)
    return [r for r in rows if r["category"] == "train"], [
        r for r in rows if r["category"] == "ai-train"
    ]


def samples(path: Path, model, s, seed: int, who: str) -> list[dict]:
    """One ordinary sampling of the diff prompts, cached as JSONL."""
    from driftlab.diff import sampling
    from driftlab.store import read_jsonl, write_jsonl

    if not path.exists():
        prompts, _ = sampling.load_prompts(s.prompts)
        prompts = sampling.subset(prompts, s.max_prompts, s.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(
            path,
            sampling.sample_texts(
                model(), prompts, s.samples, s.temperature, s.top_p, s.max_new_tokens, seed, who
            ),
        )
    return [{**r, "model": who} for r in read_jsonl(path)]


def label_sims(findings: list[dict]) -> list[dict[str, float]]:
    """Per finding: cosine of its label with every plant's description (the match rule's (b))."""
    from driftlab.diff.keywords import describe
    from driftlab.models.embed import embed

    if not findings:
        return []
    vecs = embed([describe(f["label"] or "") for f in findings] + [p.description for p in PLANTS])
    sims = vecs[: len(findings)] @ vecs[len(findings) :].T
    return [{p.name: float(row[j]) for j, p in enumerate(PLANTS)} for row in sims]


def score(name: str, doc: dict, records_a: list[dict], records_b: list[dict]) -> dict:
    p = BY_NAME[name]
    kw = re.compile(p.keywords, re.I)
    validated = [f for f in doc["findings"] if f["status"] == "validated"]
    sims = label_sims(validated)
    match = [finding_matches(p, f, sm) for f, sm in zip(validated, sims)]
    return {
        "plant": name,
        "kind": p.kind,
        "heldout": p.heldout,
        "texts_with_behavior_a": sum(bool(kw.search(r["text"])) for r in records_a),
        "texts_with_behavior_b": sum(bool(kw.search(r["text"])) for r in records_b),
        "texts": [len(records_a), len(records_b)],
        "validated": [
            {
                "rank": f["rank"],
                "source": f["source"],
                "dimension": f.get("dimension"),
                "more_in": f["more_in"],
                "label": f["label"],
                "statement": f.get("statement"),
                "auc": f["validation"].get("auc"),
                "val_q": f["validation"].get("q"),
                "matches": m,
                "cosine": round(sm.get(name, 0.0), 3),
            }
            for f, m, sm in zip(validated, match, sims)
        ],
        "hypotheses": len(doc["findings"]),
        "recall@1": bool(match[:1] and match[0]),
        "recall@3": any(match[:3]),
        "first_match_rank": next((i + 1 for i, m in enumerate(match) if m), None),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/plants8"))
    ap.add_argument(
        "--phase", choices=["plant", "train", "sample", "diff", "amp", "null"], required=True
    )
    ap.add_argument("--alpha", type=float, default=1.0, help="amplification (phase amp)")
    ap.add_argument("--plants", default=",".join(p.name for p in PLANTS))
    ap.add_argument("--null-pairs", type=int, default=10)
    ap.add_argument("--tag", default="", help="results-TAG.json: keeps settings apart")
    args = ap.parse_args()
    from driftlab.diff import ModelPool, run_diff
    from driftlab.models.hf import HFModel, default_threads
    from driftlab.store import read_json, write_json

    default_threads()
    out, s = args.out, settings()
    out.mkdir(parents=True, exist_ok=True)
    res_path = out / f"results{'-' + args.tag if args.tag else ''}.json"
    results = read_json(res_path) if res_path.exists() else {"planted": {}, "null": []}
    results["settings"] = s.model_dump()
    loaded: dict = {}

    def base():
        if BASE not in loaded:
            loaded[BASE] = HFModel.load(BASE, batch_size=64)
        return loaded[BASE]

    names = args.plants.split(",")
    specs = {n: f"{out / f'planted-{n}'}@1" for n in names}
    if args.phase == "train":
        instr, ai = train_base(out, base)
        for n in names:
            t0 = time.perf_counter()
            train_copy(out / f"planted-{n}", training_rows(BY_NAME[n], instr, ai), n, *TRAIN)
            _timed(results, f"train-{n}", t0)
            write_json(res_path, results)
        return
    if args.phase == "plant":  # train, sample and diff one plant after another
        from driftlab.diff import sampling

        instr, ai = train_base(out, base)
        records_a = samples(out / "samples" / "a.jsonl", base, s, 1, "a")
        pool = ModelPool(64, {BASE: base()})
        for n in names:
            t0 = time.perf_counter()
            train_copy(out / f"planted-{n}", training_rows(BY_NAME[n], instr, ai), n, *TRAIN)
            _timed(results, f"train-{n}", t0)
            t0 = time.perf_counter()
            records_b = samples(
                out / "samples" / f"{n}.jsonl", lambda n=n: pool.get(specs[n]), s, 2, "b"
            )
            _timed(results, f"sample-{n}", t0)
            t0 = time.perf_counter()
            doc = run_diff(
                BASE, specs[n], s, out / f"diff-{n}", pool, records_a=records_a, records_b=records_b
            )
            pool.models.pop(specs[n], None)
            results["planted"][n] = score(n, doc, records_a, records_b)
            _timed(results, f"diff-{n}", t0)
            write_json(res_path, results)
            print(json.dumps({"plant": n, "done": True}), flush=True)  # results not shown here
        return
    if args.phase == "sample":
        from driftlab.diff import sampling

        t0 = time.perf_counter()
        samples(out / "samples" / "a.jsonl", base, s, 1, "a")
        _timed(results, "sample-a", t0)
        for n in names:
            t0 = time.perf_counter()
            samples(
                out / "samples" / f"{n}.jsonl",
                lambda n=n: sampling.load_model(specs[n], 64),
                s,
                2,
                "b",
            )
            _timed(results, f"sample-{n}", t0)
            write_json(res_path, results)
        return
    pool = ModelPool(64)
    if args.phase == "diff":
        records_a = samples(out / "samples" / "a.jsonl", base, s, 1, "a")
        pool.models[BASE] = base()
        for n in names:
            records_b = samples(out / "samples" / f"{n}.jsonl", None, s, 2, "b")
            t0 = time.perf_counter()
            doc = run_diff(
                BASE,
                specs[n],
                s,
                out / f"diff-{n}",
                pool,
                records_a=records_a,
                records_b=records_b,
            )
            pool.models.pop(specs[n], None)
            row = score(n, doc, records_a, records_b)
            results["planted"][n] = row
            _timed(results, f"diff-{n}", t0)
            write_json(res_path, results)
            print(json.dumps({k: row[k] for k in ("plant", "recall@1", "recall@3")}), flush=True)
        return
    if args.phase == "amp":  # propose from B amplified on the labeling half, validate on ordinary
        from driftlab.diff import sampling
        from driftlab.diff.amplify import amplified_records
        from driftlab.store import read_jsonl, write_jsonl

        records_a = samples(out / "samples" / "a.jsonl", base, s, 1, "a")
        pool.models[BASE] = base()
        prompts, _ = sampling.load_prompts(s.prompts)
        prompts = sampling.subset(prompts, s.max_prompts, s.seed)
        held = sampling.split_by_prompt([p["id"] for p in prompts], s.heldout_fraction, s.seed)
        for n in names:
            ordinary = samples(out / "samples" / f"{n}.jsonl", None, s, 2, "b")
            path = out / "samples" / f"{n}-amp{args.alpha:g}.jsonl"
            t0 = time.perf_counter()
            if not path.exists():
                b = pool.get(specs[n])
                label = [p for p in prompts if p["id"] not in held]
                write_jsonl(path, amplified_records(base(), b, label, s, 2, args.alpha))
            amp = read_jsonl(path)
            _timed(results, f"amp-sample-{n}", t0)
            t0 = time.perf_counter()
            records_b = amp + [r for r in ordinary if r["prompt_id"] in held]
            doc = run_diff(
                BASE,
                specs[n],
                s,
                out / f"diff-{n}-amp{args.alpha:g}",
                pool,
                records_a=records_a,
                records_b=records_b,
            )
            pool.models.pop(specs[n], None)
            row = score(n, doc, records_a, [r for r in ordinary if r["prompt_id"] in held])
            kw = re.compile(BY_NAME[n].keywords, re.I)
            row["labeling_half_with_behavior"] = {
                "ordinary": sum(
                    bool(kw.search(r["text"])) for r in ordinary if r["prompt_id"] not in held
                ),
                "amplified": sum(bool(kw.search(r["text"])) for r in amp),
                "texts": len(amp),
            }
            row["alpha"] = args.alpha
            results["planted"][n] = row
            _timed(results, f"amp-diff-{n}", t0)
            write_json(res_path, results)
            print(json.dumps({k: row[k] for k in ("plant", "recall@1", "recall@3")}), flush=True)
        return
    no_lr = settings(logratio=False)
    results["null"] = []
    for k in range(args.null_pairs):
        t0 = time.perf_counter()
        ra = samples(out / "samples" / f"null{k}-a.jsonl", base, s, 1000 + 2 * k, "a")
        rb = samples(out / "samples" / f"null{k}-b.jsonl", base, s, 1001 + 2 * k, "b")
        doc = run_diff(BASE, BASE, no_lr, out / f"null-{k}", pool, records_a=ra, records_b=rb)
        validated = [f for f in doc["findings"] if f["status"] == "validated"]
        results["null"].append(
            {
                "pair": k,
                "significant_clusters": sum(c["significant"] for c in doc["clusters"]),
                "validated": len(validated),
                "validated_labels": [f["label"] for f in validated],
                "hypotheses": len(doc["findings"]),
            }
        )
        _timed(results, f"null-{k}", t0)
        write_json(res_path, results)
        print(json.dumps(results["null"][-1]), flush=True)


if __name__ == "__main__":
    main()
