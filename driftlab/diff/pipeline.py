"""The diff pipeline: sample, embed, cluster, test, label, validate, rank; every step cached.

`run_diff` serves both the command (cache in DIR/cache) and the monitor (no disk cache,
model A's texts from round 0's record, model B the model under measurement).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftlab import progress
from driftlab.diff import baseline, clustering, labeling, logratio, ranking, sampling, validation
from driftlab.diff.dimensions import DIMENSIONS, Dimension, load_files, shifts
from driftlab.diff.keywords import keyword_label, phrase_label
from driftlab.diff.projection import project, svg
from driftlab.diff.settings import EMBEDDING, DiffSettings
from driftlab.diff.stats import bh, cluster_tests
from driftlab.models.base import Generator
from driftlab.models.embed import embed
from driftlab.models.judging import check_judge
from driftlab.steps import Steps, key_of
from driftlab.store import _atomic_write, write_json

SCHEMA = "driftlab.diff/1"
TAIL_MIN = (
    4  # a log-ratio tail of fewer texts leaves about two per half: nothing to label or validate
)


class ModelPool:
    """Models by spec, loaded on first use and shared (the labeler is often model A)."""

    def __init__(self, batch_size: int = 32, preset: dict[str, Generator] | None = None) -> None:
        self.batch_size = batch_size
        self.models: dict[str, Generator] = dict(preset or {})

    def get(self, spec: str) -> Generator:
        if spec not in self.models:
            progress.log(f"diff: loading {spec}")
            self.models[spec] = sampling.load_model(spec, self.batch_size)
        return self.models[spec]

    def judge(self, s: DiffSettings) -> validation.EmbeddingJudge | validation.LMJudge:
        if s.judge == EMBEDDING:
            return validation.EmbeddingJudge(s.embedder)
        return validation.LMJudge(self.get(s.judge))


def run_diff(
    model_a: str,
    model_b: str,
    s: DiffSettings,
    out: Path | None = None,
    pool: ModelPool | None = None,
    records_a: list[dict] | None = None,
    records_b: list[dict] | None = None,
    identity: dict[str, dict] | None = None,
) -> dict:
    """The findings document (docs/artifacts-diff.md); writes findings.json and the map to `out`."""
    pool = pool or ModelPool(s.batch_size)
    load_files(s.dimension_files)
    for spec in [s.judge] * (s.judge != EMBEDDING) + [s.intent_judge()] * bool(s.intent):
        check_judge(pool.get(spec))  # a judge without log-probs fails here, not after sampling
    cache = Steps(Path(out) / "cache" if out is not None else None)
    ident = identity or {}
    id_a = ident.get(model_a) or sampling.spec_identity(model_a)
    id_b = ident.get(model_b) or sampling.spec_identity(model_b)
    prompts, sha = sampling.load_prompts(s.prompts)
    prompts = sampling.subset(prompts, s.max_prompts, s.seed)
    how = {
        "prompts_sha": sha,
        "n": len(prompts),
        "max_prompts": s.max_prompts,
        "samples": s.samples,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_new_tokens": s.max_new_tokens,
    }

    def sample(spec: str, who: str, seed: int) -> list[dict]:
        return sampling.sample_texts(
            pool.get(spec), prompts, s.samples, s.temperature, s.top_p, s.max_new_tokens, seed, who
        )

    # Given texts (the monitor's) are their own cache key; sampled ones are keyed by their inputs.
    if records_a is None:
        records_a, key_a = cache.json(
            "samples_a",
            {**how, "model": id_a, "seed": s.seed * 1000 + 1},
            lambda: sample(model_a, "a", s.seed * 1000 + 1),
        )
    else:
        key_a = key_of(records_a)
    if records_b is None and s.amplify > 0:
        held = sampling.split_by_prompt([p["id"] for p in prompts], s.heldout_fraction, s.seed)
        records_b, key_b = cache.json(
            "samples_b_amplified",
            {**how, "model_a": id_a, "model": id_b, "seed": s.seed * 1000 + 2, "alpha": s.amplify},
            lambda: _amplified_b(model_a, model_b, prompts, held, s, pool),
        )
    elif records_b is None:
        records_b, key_b = cache.json(
            "samples_b",
            {**how, "model": id_b, "seed": s.seed * 1000 + 2},
            lambda: sample(model_b, "b", s.seed * 1000 + 2),
        )
    else:
        key_b = key_of(records_b)
    records = [*records_a, *records_b]
    texts = [r["text"] for r in records]
    is_b = np.array([r["model"] == "b" for r in records])

    progress.log(f"diff: embedding {len(texts)} texts")
    emb, key_e = cache.array(
        "embed", {"a": key_a, "b": key_b, "embedder": s.embedder}, lambda: embed(texts, s.embedder)
    )
    clus, key_c = cache.json(
        "cluster",
        {"embed": key_e, "method": s.cluster_method, "k": [s.k_min, s.k_max], "seed": s.seed},
        lambda: _cluster(emb, s),
    )
    labels = np.asarray(clus["labels"])
    clusters = cluster_tests(labels, is_b, s.alpha)
    _add_examples(clusters, records, labels, emb)

    heldout = sampling.split_by_prompt(
        [r["prompt_id"] for r in records], s.heldout_fraction, s.seed
    )
    label_ids = {r["prompt_id"] for r in records} - heldout
    dim_rows, dim_items = _dimension_stage(records, s, clusters, label_ids, heldout)
    base, _ = cache.json(
        "baseline",
        {"embed": key_e},
        lambda: baseline.classifier_baseline(texts, is_b, [r["prompt_id"] for r in records], emb),
    )
    character, ratios = None, None
    if s.logratio:
        ratios, _ = cache.json(
            "logratio",
            {"a": key_a, "b": key_b, "model_a": id_a, "model_b": id_b},
            lambda: logratio.logprob_ratio(pool.get(model_a), pool.get(model_b), records),
        )
        character = logratio.characteristic(records, ratios)
    groups = _groups(clusters, labels, ratios, is_b, s)
    items = _hypotheses(groups, records, label_ids, heldout, s, pool, cache, key_c, dim_items)
    if s.intent:
        marks, _ = cache.json(
            "intent",
            {
                "judge": s.intent_judge(),
                "intent": s.intent,
                "labels": [(it["more_in"], it.get("label")) for it in items],
            },
            lambda: _intent(items, s, pool),
        )
        for it, m in zip(items, marks):
            it.update(m)
    ranking.rank(items)
    doc = {
        "schema": SCHEMA,
        "model_a": model_a,
        "model_b": model_b,
        "intent": s.intent,
        "settings": {
            **s.model_dump(),
            "prompts": s.prompts or f"driftlab/data/prompts/{sampling.SHIPPED}",
            "prompts_sha": sha,
            "intent_judge": s.intent_judge(),
            "k_range": [s.k_min, s.k_max],
        },
        "n_prompts": len(prompts),
        "n_texts": {"a": int((~is_b).sum()), "b": int(is_b.sum())},
        "split": {"label_prompts": len(label_ids), "heldout_prompts": len(heldout)},
        "clustering": clus["info"],
        "alpha": s.alpha,
        "clusters": clusters,
        "dimensions": dim_rows,
        "findings": items,
        "baseline_classifier": base,
        "characteristic": character,
        "timings": dict(cache.timings),
        "cached_steps": list(cache.hits),
    }
    if out is not None:
        map_ = project(emb, records, labels, s.seed)
        write_json(Path(out) / "map.json", map_)
        _atomic_write(Path(out) / "map.svg", svg(map_, model_a, model_b))
        write_json(Path(out) / "findings.json", doc)
    return doc


def _amplified_b(
    model_a: str, model_b: str, prompts: list[dict], held: set[str], s: DiffSettings, pool
) -> list[dict]:
    """B amplified on the labeling half (to propose), ordinary on the held-out half (validation)."""
    from driftlab.diff.amplify import amplified_records

    seed = s.seed * 1000 + 2
    a, b = pool.get(model_a), pool.get(model_b)
    label = [p for p in prompts if p["id"] not in held]
    ordinary = [p for p in prompts if p["id"] in held]
    amp = amplified_records(a, b, label, s, seed, s.amplify)
    own = sampling.sample_texts(
        b, ordinary, s.samples, s.temperature, s.top_p, s.max_new_tokens, seed, "b"
    )
    return amp + own


def _cluster(emb: np.ndarray, s: DiffSettings) -> dict:
    labels, info = clustering.cluster(emb, s.cluster_method, s.k_min, s.k_max, s.seed)
    return {"labels": labels.tolist(), "info": info}


def _add_examples(
    clusters: list[dict], records: list[dict], labels: np.ndarray, emb: np.ndarray
) -> None:
    """Up to 3 texts per model nearest each cluster's centroid, and its prompt categories."""
    for c in clusters:
        idx = np.flatnonzero(labels == c["id"])
        centroid = emb[idx].mean(axis=0)
        near = idx[np.argsort(-(emb[idx] @ centroid))]
        for side in ("a", "b"):
            c[f"examples_{side}"] = [
                records[i]["text"] for i in near if records[i]["model"] == side
            ][:3]
        cats: dict[str, int] = {}
        for i in idx:
            cats[records[i]["category"]] = cats.get(records[i]["category"], 0) + 1
        c["categories"] = dict(sorted(cats.items(), key=lambda kv: -kv[1]))


def _groups(
    clusters: list[dict],
    labels: np.ndarray,
    ratios: list[float] | None,
    is_b: np.ndarray,
    s: DiffSettings,
) -> list[dict]:
    """What gets labeled: the significant clusters (largest |h| first), then, per model, its
    most characteristic texts by log-prob ratio: the top decile of all texts, which finds a
    behavior spread thinly over many topics that no cluster isolates, and the far tail
    (beyond Tukey's outer fence, Q3 + 3 IQR), which finds one shown rarely but strongly (a
    stance on one subject) that a decile would dilute with ordinary texts."""
    sig = sorted([c for c in clusters if c["significant"]], key=lambda c: -abs(c["cohens_h"]))[
        : s.max_labeled
    ]
    groups = [
        {**c, "source": "cluster", "members": np.flatnonzero(labels == c["id"]).tolist()}
        for c in sig
    ]
    if (
        ratios is None or max(map(abs, ratios), default=0.0) < 1e-6
    ):  # the same model: nothing to rank
        return groups
    r = np.asarray(ratios, dtype=float)
    order = np.argsort(r, kind="stable")
    top = max(2, len(order) // 10)
    q1, q3 = np.percentile(r, [25, 75])
    fence = 3 * (q3 - q1)
    sets = [
        ("b", "", order[::-1][:top]),
        ("a", "", order[:top]),
        ("b", "-tail", np.flatnonzero(r > q3 + fence)),
        ("a", "-tail", np.flatnonzero(r < q1 - fence)),
    ]
    for side, suffix, idx in sets:
        if suffix and not TAIL_MIN <= len(idx) < top:  # too few to validate, or the decile already
            continue
        inside = np.zeros(len(order), dtype=int)
        inside[idx] = 1
        row = next(t for t in cluster_tests(inside, is_b, s.alpha) if t["id"] == 1)
        if row["more_in"] != side:
            continue
        groups.append(
            {
                **row,
                "id": f"logratio-{side}{suffix}",
                "source": "logratio",
                "more_in": side,
                "members": sorted(idx.tolist(), key=lambda i: -r[i] if side == "b" else r[i]),
                "examples_a": [],
                "examples_b": [],
            }
        )
    return groups


def dimension_diff(records: list[dict], s: DiffSettings) -> dict:
    """The named dimensions alone (the diff monitor's 'dimensions' mode): no embedder, labeler
    or judge; the same split, tests and BH as in `run_diff`. A document with run_diff's keys."""
    load_files(s.dimension_files)
    heldout = sampling.split_by_prompt(
        [r["prompt_id"] for r in records], s.heldout_fraction, s.seed
    )
    label_ids = {r["prompt_id"] for r in records} - heldout
    dim_rows, items = _dimension_stage(records, s, [], label_ids, heldout)
    _settle(items, [], s.alpha)
    ranking.rank(items)
    return {
        "clusters": [],
        "dimensions": dim_rows,
        "findings": items,
        "baseline_classifier": {"tfidf_auc": None, "embedding_auc": None, "folds": 0},
        "alpha": s.alpha,
    }


def _dimension_stage(
    records: list[dict], s: DiffSettings, clusters: list[dict], label_ids: set, heldout: set
) -> tuple[list[dict], list[dict]]:
    """Every dimension's row (discovery p, BH'd with the clusters) and the proposed ones as
    hypotheses carrying their held-out validation (q and status set by `_settle`)."""
    dims = DIMENSIONS.select(s.dimensions)
    values = shifts.measure([r["text"] for r in records], dims)
    dim_rows = shifts.shift_rows(records, values, dims, label_ids, heldout)
    _joint_bh(clusters, dim_rows, s.alpha)  # dimensions and clusters: one family
    items = [
        _dimension_item(row, d, records, values[d.name], heldout)
        for row, d in zip(dim_rows, dims)
        if row["proposed"]
    ]
    return dim_rows, items


def _joint_bh(clusters: list[dict], dim_rows: list[dict], alpha: float) -> None:
    """Benjamini-Hochberg over the clusters' and the dimensions' discovery p-values together."""
    qs = bh([c["p"] for c in clusters] + [r["p"] for r in dim_rows])
    for c, q in zip(clusters, qs):
        c["q"] = q
        c["significant"] = bool(q < alpha and c["n_a"] != c["n_b"])
    for r, q in zip(dim_rows, qs[len(clusters) :]):
        r["q"] = q
        r["proposed"] = bool(q < alpha)


def _dimension_item(
    row: dict, d: Dimension, records: list[dict], values: list[float], heldout: set[str]
) -> dict:
    """A proposed dimension shift as a hypothesis, validated on held-out ordinary texts."""
    row["validation"] = shifts.validate(row, d, records, values, heldout)
    high = row["more_in"] == "b"
    return {
        "cluster": f"dimension-{d.name}",
        "source": "dimension",
        "dimension": d.name,
        "more_in": row["more_in"],
        "label": row["statement"],
        "statement": row["statement"],
        "short": row["short"],
        "status": "untested",
        "label_by": "dimension",
        "candidates": [],
        "rejected_labels": [],
        "effect": {**row["effect"], "p": row["p"], "q": row["q"]},
        "validation": row["validation"],
        "intent": None,
        "intent_p_yes": None,
        "examples_a": shifts.extremes(records, values, "a", not high),
        "examples_b": shifts.extremes(records, values, "b", high),
    }


def _hypotheses(
    groups, records, label_ids, heldout, s, pool, cache, key_c, dim_items=()
) -> list[dict]:
    """Label each group from the labeling half of the prompts; validate every label on the other.
    The proposed dimension shifts' validation p-values join the labels' in one BH family."""
    sig = groups
    dim_items = list(dim_items)
    if not sig:
        _settle(dim_items, [], s.alpha)
        return dim_items
    members = {c["id"]: c["members"] for c in sig}
    prompts, shown = [], []
    for c in sig:
        this, other = labeling.contrast_examples(
            records, members[c["id"]], c["more_in"], label_ids, s.examples
        )
        prompts.append(labeling.label_prompt(this, other))
        shown.append([*this, *other, prompts[-1]])  # echoing the instructions is not a label either
    written, _ = cache.json(
        "labels",
        {
            "cluster": key_c,
            "labeler": s.labeler,
            "prompts": prompts,
            "n": s.labels_per_cluster,
            "seed": s.seed,
        },
        lambda: labeling.write_labels(pool.get(s.labeler), prompts, s.labels_per_cluster, s.seed),
    )
    others = (
        {
            side: [r["text"] for r in records if r["model"] != side and r["prompt_id"] in label_ids]
            for side in {c["more_in"] for c in sig}
        }
        if s.keyword_labels
        else {}
    )
    jobs = []  # (group index, label, pairs, who wrote it)
    rejected: dict[
        int, list[str]
    ] = {}  # labels that quote an example: not descriptions, not validated
    for ci, (c, cands) in enumerate(zip(sig, written)):
        pairs = validation.heldout_pairs(
            records, set(members[c["id"]]), c["more_in"], heldout, s.max_pairs, s.seed
        )
        by = {}
        for x in cands:
            if labeling.copied(x["label"], shown[ci]):
                rejected.setdefault(ci, []).append(x["label"])
            else:
                by[x["label"]] = s.labeler
        if s.keyword_labels:
            this = [
                records[i]["text"]
                for i in members[c["id"]]
                if records[i]["model"] == c["more_in"] and records[i]["prompt_id"] in label_ids
            ]
            other = others[c["more_in"]]
            for lab in (keyword_label(this, other), phrase_label(this, other)):
                if lab and lab not in by:
                    by[lab] = "keywords"
        for lab, who in by.items():
            jobs.append((ci, lab, pairs, who))
    progress.log(f"diff: validating {len(jobs)} labels of {len(sig)} clusters on held-out prompts")
    judge_key = [s.judge, s.embedder] if s.judge == EMBEDDING else s.judge
    results, _ = cache.json(
        "validate",
        {
            "cluster": key_c,
            "judge": judge_key,
            "perm": s.permutations,
            "seed": s.seed,
            "jobs": [(ci, lab, key_of(pr)) for ci, lab, pr, _ in jobs],
        },
        lambda: [
            validation.validate(pool.judge(s), lab, pr, s.permutations, s.seed)
            for _, lab, pr, _ in jobs
        ],
    )
    tested = [i for i, r in enumerate(results) if r["p"] is not None]
    qs = _settle(dim_items, [results[i]["p"] for i in tested], s.alpha)
    for i, q in zip(tested, qs):
        results[i]["q"] = q
    items = []
    for ci, c in enumerate(sig):
        cands = [
            {"label": lab, "by": who, **results[j]}
            for j, (cj, lab, _, who) in enumerate(jobs)
            if cj == ci
        ]
        cands.sort(key=lambda x: -(x["auc"] if x["auc"] is not None else -1))
        best = cands[0] if cands else None
        if best is None or best["auc"] is None:
            status = "untested"
        elif best["q"] < s.alpha and best["auc"] > 0.5:
            status = "validated"
        else:
            status = "unvalidated"
        this_name = "B" if c["more_in"] == "b" else "A"
        other_name = "A" if this_name == "B" else "B"
        label = best["label"] if best else None
        items.append(
            {
                "cluster": c["id"],
                "source": c["source"],
                "more_in": c["more_in"],
                "label": label,
                "statement": f"Model {this_name}'s texts do this more than model {other_name}'s: "
                f"{label}"
                if label
                else None,
                "status": status,
                "label_by": best["by"] if best else None,
                "candidates": cands,
                "rejected_labels": rejected.get(ci, []),
                "effect": {
                    k: c[k]
                    for k in ("diff", "cohens_h", "p", "q", "n_a", "n_b", "share_a", "share_b")
                },
                "validation": {
                    k: best.get(k)
                    for k in ("auc", "p", "q", "n_pairs", "n_prompts", "position_consistency")
                }
                if best
                else {"auc": None},
                "intent": None,
                "intent_p_yes": None,
                "examples_a": c["examples_a"] or _side(records, members[c["id"]], "a"),
                "examples_b": c["examples_b"] or _side(records, members[c["id"]], "b"),
            }
        )
    return items + dim_items


def _settle(dim_items: list[dict], label_ps: list[float], alpha: float) -> list[float]:
    """BH over the labels' and the dimensions' validation p-values; sets each dimension's q and
    status; returns the labels' q-values."""
    qs = bh(label_ps + [it["validation"]["p"] for it in dim_items])
    for it, q in zip(dim_items, qs[len(label_ps) :]):
        v = it["validation"]
        v["q"] = q
        ok = q < alpha and v["auc"] is not None and v["auc"] > 0.5
        it["status"] = "validated" if ok else "unvalidated"
    return qs[: len(label_ps)]


def _side(records: list[dict], members: list[int], side: str, k: int = 3) -> list[str]:
    return [records[i]["text"] for i in members if records[i]["model"] == side][:k]


def _intent(items: list[dict], s: DiffSettings, pool: ModelPool) -> list[dict]:
    ranking.judge_intent(pool.get(s.intent_judge()), s.intent or "", items)
    return [{"intent": it.get("intent"), "intent_p_yes": it.get("intent_p_yes")} for it in items]
