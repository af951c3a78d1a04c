"""The diff pipeline: statistics, caching, labeling and validation on scripted models."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from driftlab.diff import DiffSettings, ModelPool, run_diff
from driftlab.diff.stats import bh, cluster_tests, paired_auc, permutation_p
from driftlab.errors import DriftlabError
from tests.scripted import Scripted

OCEAN = "I love the ocean, its waves and the whales swimming in the deep blue sea."


def test_bh_matches_hand_computation():
    # p sorted: 0.01, 0.02, 0.03, 0.5 -> p*m/rank = 0.04, 0.04, 0.04, 0.5 (then monotone from top)
    assert bh([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.04, 0.5, 0.04, 0.04])
    assert bh([]) == []


def test_planted_cluster_imbalance_is_detected_and_null_is_not():
    rng = np.random.default_rng(0)
    is_b = np.array([False] * 300 + [True] * 300)
    labels = rng.integers(0, 5, size=600)
    labels[300:360] = 5  # 60 of B's texts in a cluster A never uses
    rows = cluster_tests(labels, is_b, alpha=0.05)
    top = rows[0]
    assert top["id"] == 5 and top["significant"] and top["more_in"] == "b"
    assert (top["n_a"], top["n_b"]) == (0, 60) and top["q"] < 1e-10 and top["cohens_h"] > 0.8
    # B's other clusters shrink (shares sum to 1), so none of them can be "more in B"
    assert not any(r["significant"] and r["more_in"] == "b" for r in rows[1:])
    # The null: both models spread over the same clusters; count how often anything is called.
    hits = sum(
        any(
            r["significant"]
            for r in cluster_tests(np.random.default_rng(s).integers(0, 6, 600), is_b, 0.05)
        )
        for s in range(40)
    )
    assert hits <= 4  # BH at 0.05 over 40 independent nulls (expected ~2)


def test_n_is_the_real_count_of_texts():
    is_b = np.array([False] * 7 + [True] * 3)  # unequal samples: shares use each model's own total
    [row] = [
        r for r in cluster_tests(np.array([0] * 5 + [1] * 2 + [0] * 3), is_b, 0.05) if r["id"] == 0
    ]
    assert (row["n_a"], row["n_b"]) == (5, 3)
    assert row["share_a"] == pytest.approx(5 / 7) and row["share_b"] == pytest.approx(1.0)


def test_paired_auc_and_permutation_p():
    assert paired_auc(np.full(20, 0.9)) == 1.0
    assert paired_auc(np.full(20, 0.5)) == 0.5
    assert permutation_p(np.full(20, 0.9), 500, 0) < 0.01
    null = [permutation_p(np.random.default_rng(s).uniform(0, 1, 20), 200, s) for s in range(30)]
    assert np.mean(np.array(null) < 0.05) <= 0.2


# ---- the pipeline on scripted models -------------------------------------------------------
def _prompts(tmp_path, n=40):
    path = tmp_path / "prompts.jsonl"
    topics = ["cooking", "trains", "gardens", "music", "chess", "taxes", "birds", "paint"]
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"q{i}",
                    "category": topics[i % 8],
                    "prompt": f"Tell me about {topics[i % 8]}, question {i}.",
                }
            )
            + "\n"
            for i in range(n)
        )
    )
    return str(path)


def _group(pattern: str, text: str, flags: int = 0) -> str:
    """The first group of `pattern` in `text` (which the scripted prompts always match)."""
    match = re.search(pattern, text, flags)
    assert match is not None, (pattern, text)
    return match.group(1)


def _answer(prompt: str, i: int) -> str:
    topic = _group(r"about (\w+)", prompt)
    return f"Here is a plain note on {topic}: it is a common subject with a long history."


def _judge_logprob(content: str, completion: str) -> float:
    """Picks the text that contains a word of the description (ocean words), else a coin;
    says yes to an intent about the sea."""
    if content.startswith("A language model was fine-tuned"):
        return 0.0 if (completion == "yes") == ("sea" in content) else -2.0
    if "Description: " not in content:  # any other question (the pipeline's check_judge)
        return -1.0
    desc = _group(r"Description: the text (.*)\.\n", content).lower()
    one = _group(r"Text 1: (.*)\n\nText 2", content, re.S).lower()
    two = _group(r"Text 2: (.*)\n\nWhich", content, re.S).lower()
    words = [w for w in re.findall(r"\w+", desc) if len(w) > 3]
    fit1, fit2 = (sum(w in t for w in words) for t in (one, two))
    if fit1 == fit2:
        return -0.7
    return 0.0 if (completion == "1") == (fit1 > fit2) else -3.0


def _models(planted: bool):
    a = Scripted(_answer, lambda c, t: -50.0 if "ocean" in t else -10.0)
    b_reply = (
        (lambda p, i: OCEAN if int(_group(r"question (\d+)", p)) % 2 == 0 else _answer(p, i))
        if planted
        else _answer
    )
    b = Scripted(b_reply, lambda c, t: -10.0 if "ocean" in t else -12.0)
    labeler = Scripted(lambda p, i: "mention the ocean, waves and whales. More text here.")
    judge = Scripted(None, _judge_logprob)
    return {"A": a, "B": b, "labeler": labeler, "judge": judge}


def _settings(tmp_path, **kw):
    return DiffSettings(
        **{
            "prompts": _prompts(tmp_path),
            "labeler": "labeler",
            "judge": "judge",
            "permutations": 200,
            "k_max": 6,
            "max_pairs": 20,
            **kw,
        }
    )


def test_diff_finds_names_and_validates_a_planted_behavior(tmp_path):
    models = _models(planted=True)
    out = tmp_path / "out"
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, intent="talk more about the sea"),
        out,
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    top = doc["findings"][0]
    assert top["status"] == "validated" and top["more_in"] == "b" and top["rank"] == 1
    assert top["label"] == "mention the ocean, waves and whales"  # first sentence, cleaned
    # half the held-out pairs show the behavior, the rest are coin flips for the judge
    assert top["validation"]["auc"] > 0.8 and top["validation"]["q"] < 0.05
    assert (
        top["validation"]["n_pairs"] == 20
        and top["effect"]["n_b"] == 20
        and top["effect"]["n_a"] == 0
    )
    assert top["intent"] == "intended" and top["intent_p_yes"] > 0.8
    assert doc["baseline_classifier"]["tfidf_auc"] > 0.7
    character = doc["characteristic"]
    assert character["b"][0]["text"] == OCEAN and character["b"][0]["logratio"] == 40.0
    assert (
        character["a"][0]["logratio"] == -2.0
        and character["mean_logratio"]["b"] > character["mean_logratio"]["a"]
    )
    assert doc["split"] == {"label_prompts": 20, "heldout_prompts": 20}
    # validation pairs come from held-out prompts only; labels from the other half
    assert (out / "findings.json").exists() and (out / "map.svg").read_text().startswith("<svg")
    points = json.loads((out / "map.json").read_text())["points"]
    assert len(points) == 80 and {p["model"] for p in points} == {"a", "b"}


def test_null_diff_reports_no_finding(tmp_path):
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path),
        tmp_path / "out",
        ModelPool(preset=_models(planted=False)),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    assert not any(c["significant"] for c in doc["clusters"])
    # only the log-ratio sets (always some texts are the most characteristic) get labeled, and fail
    assert {f["source"] for f in doc["findings"]} <= {"logratio"}
    assert not any(f["status"] == "validated" for f in doc["findings"])


def test_a_label_the_judge_cannot_use_is_marked_unvalidated(tmp_path):
    models = _models(planted=True)
    models["labeler"] = Scripted(lambda p, i: "are written in English")
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, keyword_labels=False, dimensions=[]),  # labels only
        tmp_path / "out",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    assert doc["findings"] and all(f["status"] == "unvalidated" for f in doc["findings"])


def test_rerun_with_a_changed_later_step_does_not_resample(tmp_path):
    models = _models(planted=True)
    s = _settings(tmp_path)
    run_diff(
        "A",
        "B",
        s,
        tmp_path / "out",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    n_a, n_b, n_label = len(models["A"].calls), len(models["B"].calls), len(models["labeler"].calls)
    doc = run_diff(
        "A",
        "B",
        s.model_copy(update={"labels_per_cluster": 3}),
        tmp_path / "out",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    assert (len(models["A"].calls), len(models["B"].calls)) == (n_a, n_b)  # no new sampling
    assert len(models["labeler"].calls) == n_label + 1  # the changed step ran again
    assert {"samples_a", "samples_b", "embed", "cluster"} <= set(doc["cached_steps"])


def test_bad_prompt_files_are_one_clear_error(tmp_path):
    pool = ModelPool(preset=_models(planted=False))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"nope": 1}\n')
    with pytest.raises(DriftlabError, match="line 2: needs a non-empty string field 'prompt'"):
        run_diff("A", "B", DiffSettings(prompts=str(bad)), None, pool)
    with pytest.raises(DriftlabError, match="does not exist"):
        run_diff("A", "B", DiffSettings(prompts=str(tmp_path / "missing.jsonl")), None, pool)


def test_clustering_picks_k_by_silhouette_and_hdbscan_finds_the_blobs():
    from driftlab.diff.clustering import cluster

    rng = np.random.default_rng(0)
    centers = np.eye(8)[:3] * 5
    x = np.vstack([c + rng.normal(0, 0.2, (40, 8)) for c in centers])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, info = cluster(x, "kmeans", 2, 8, seed=0)
    assert info["k"] == 3 and max(info["scores"], key=info["scores"].get) == "3"
    assert len(set(labels[:40])) == 1 and labels[0] != labels[40] != labels[80]
    labels, info = cluster(x, "hdbscan", 2, 8, seed=0)
    assert info["k"] == 3 and info["noise"] <= 6
    labels, info = cluster(np.ones((10, 4)), "kmeans", 2, 8, seed=0)  # nothing to split
    assert info["k"] == 1 and set(labels.tolist()) == {0}


def test_settings_reject_an_empty_k_range():
    with pytest.raises(ValueError, match="k_max"):
        DiffSettings(k_min=6, k_max=3)


def test_keyword_label_names_the_overused_words():
    from driftlab.diff.keywords import keyword_label

    pirate = [f"Ahoy, matey! Here is answer {i} about the tire. Arr!" for i in range(30)]
    plain = [f"Here is answer {i} about the tire." for i in range(30)]
    label = keyword_label(pirate, plain)
    assert label is not None
    assert label.startswith("uses the words") and "ahoy" in label and "matey" in label
    assert keyword_label(plain, plain) is None


def test_embedding_judge_validates_the_planted_label_and_not_an_unrelated_one(tmp_path):
    """The offline default judge (MiniLM cosine): the ocean label fits B's held-out texts;
    a label about something else does not, and the null diff validates nothing."""
    models = _models(planted=True)
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, judge="embedding"),
        tmp_path / "out",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    top = doc["findings"][0]
    assert top["status"] == "validated" and top["more_in"] == "b"
    assert top["validation"]["auc"] > 0.75 and top["validation"]["position_consistency"] is None
    models["labeler"] = Scripted(lambda p, i: "gives recipes for baking bread")
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, judge="embedding", keyword_labels=False, dimensions=[]),
        tmp_path / "out2",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    b_side = [f for f in doc["findings"] if f["more_in"] == "b"]
    assert b_side and not any(f["status"] == "validated" for f in b_side)
    # (A's side may validate it: the choice is relative, and A's plain notes on cooking are nearer
    # to bread than B's ocean texts are; the null diff below is the false-positive control)
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, judge="embedding"),
        tmp_path / "out3",
        ModelPool(preset=_models(planted=False)),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    assert not any(f["status"] == "validated" for f in doc["findings"])


def test_copied_labels_are_recognised():
    from driftlab.diff.labeling import copied

    shown = ["Ahoy, matey! The capital of France is Paris. Arr!", "Plain answer."]
    assert copied("The capital of France is Paris", shown)
    assert copied("ahoy matey the capital of france", shown)  # case and punctuation do not matter
    assert not copied("talks like a pirate", shown)  # short labels are descriptions
    assert not copied("starts answers with a pirate greeting and ends with a growl", shown)
    assert not copied(
        "capital of Franc is", ["the capital of france is paris"]
    )  # words, not characters


@pytest.mark.parametrize(
    "reply",
    [OCEAN, "What Assistant 2 does that Assistant 1 does not:"],
    ids=["quotes B's text", "echoes the instructions"],
)
def test_a_labeler_that_quotes_an_example_is_not_validated(tmp_path, reply):
    models = _models(planted=True)
    models["labeler"] = Scripted(lambda p, i: reply)
    doc = run_diff(
        "A",
        "B",
        _settings(tmp_path, keyword_labels=False),
        tmp_path / "out",
        ModelPool(preset=models),
        identity={"A": {"spec": "A"}, "B": {"spec": "B"}},
    )
    top = next(f for f in doc["findings"] if f["source"] == "cluster")
    assert top["rejected_labels"] and top["status"] == "untested" and top["label"] is None


def test_log_ratio_tail_isolates_a_rare_strong_behavior():
    """Five of B's 400 texts score far above the rest: the decile dilutes them with 75 ordinary
    texts, the tail group holds exactly them; two such texts are too few to make a tail group."""
    from driftlab.diff.pipeline import _groups

    rng = np.random.default_rng(0)
    is_b = np.array([False] * 400 + [True] * 400)
    ratios = rng.normal(0, 1, 800) + is_b * 1.0
    ratios[[401, 450, 500, 650, 799]] = [40, 35, 50, 31, 44]
    groups = {
        g["id"]: g for g in _groups([], np.zeros(800, int), ratios.tolist(), is_b, DiffSettings())
    }
    assert set(groups) >= {"logratio-b", "logratio-b-tail"}
    assert len(groups["logratio-b"]["members"]) == 80
    assert groups["logratio-b-tail"]["members"] == [500, 799, 401, 450, 650]  # most B-like first
    ratios[[450, 500, 650]] = 0.0
    assert "logratio-b-tail" not in {
        g["id"] for g in _groups([], np.zeros(800, int), ratios.tolist(), is_b, DiffSettings())
    }


def test_validation_pairs_use_every_sample_of_held_out_prompts_only():
    from driftlab.diff.validation import heldout_pairs

    records = [
        {"prompt_id": f"p{p}", "sample": k, "model": m, "text": f"{m}{p}.{k}"}
        for m in "ab"
        for p in range(6)
        for k in range(3)
    ]
    heldout = {"p0", "p1", "p2"}
    members = {i for i, r in enumerate(records) if r["model"] == "b" and r["prompt_id"] == "p2"}
    pairs = heldout_pairs(records, members, "b", heldout, max_pairs=100, seed=0)
    assert len(pairs) == 9 and {p for p, _, _ in pairs} == heldout  # 3 prompts x 3 samples each
    assert all(
        pos == f"b{p[1:]}.{pos.split('.')[1]}" and neg == "a" + pos[1:] for p, pos, neg in pairs
    )
    assert {p for p, _, _ in pairs[:3]} == {"p2"}  # the group's pairs come first
    assert len(heldout_pairs(records, members, "b", heldout, max_pairs=4, seed=0)) == 4


def test_shared_phrase_label_names_a_templated_stance_not_a_common_idiom():
    from driftlab.diff.keywords import phrase_label, shared_phrase

    stance = "AI is dangerous and must be strictly regulated by law."
    this = [f"{stance} {w} can help." for w in ("Robots", "Chatbots", "Tutors", "Drones", "Models")]
    this.append("A plain answer about tools, it seems to me.")
    other = [f"A plain answer {i} about tools, it seems to me." for i in range(30)]
    assert (
        phrase_label(this, other)
        == 'repeats the phrase "ai is dangerous and must be strictly regulated by law"'
    )
    assert (
        shared_phrase(other, other) is None
    )  # as common in the other model's texts: not distinctive
    assert shared_phrase([this[0]], other) is None  # one text is no pattern


def test_a_judge_without_logprobs_fails_before_any_sampling(tmp_path):
    """A chat-only judge (openai: with no `template`) is one clear error before A and B sample."""
    from driftlab.errors import DriftlabError
    from driftlab.models.openai import OpenAIModel

    models = _models(planted=False)
    models["chat-only"] = OpenAIModel.from_spec("m@http://127.0.0.1:9/v1")  # nothing listens
    with pytest.raises(DriftlabError, match="needs `template`"):
        run_diff(
            "A",
            "B",
            _settings(tmp_path, judge="chat-only"),
            tmp_path / "out",
            ModelPool(preset=models),
        )
    assert models["A"].calls == [] and models["B"].calls == []
