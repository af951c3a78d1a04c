import pytest

from driftlab.config import load_config
from driftlab.errors import ConfigError, DriftlabError
from driftlab.experiment import run_experiment
from driftlab.store import read_json, read_jsonl
from driftlab.train.mitigations import (
    MitigationConfig,
    dedup_embedding,
    dedup_exact,
    mix,
    replay_count,
)


def row(prompt, completion, **extra):
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "completion": [{"role": "assistant", "content": completion}],
        **extra,
    }


def test_replay_count_makes_the_fraction_of_the_final_set():
    assert replay_count(90, 0.1) == 10 and replay_count(9, 0.1) == 1
    assert replay_count(0, 0.5) == 0 and replay_count(10, 0.0) == 0
    n = replay_count(30, 0.25)
    assert n / (30 + n) == pytest.approx(0.25)


def test_dedup_exact_normalises_space_and_case():
    rows = [
        row("q", "The answer is 4."),
        row("q", "the  answer is 4. "),
        row("q2", "The answer is 4."),
    ]
    assert dedup_exact(rows) == [rows[0], rows[2]]


def test_dedup_embedding_keeps_one_of_each_cluster():
    rows = [row("q", t) for t in ("a", "b", "c")]
    vecs = {"a": [1.0, 0.0], "b": [0.99, 0.14], "c": [0.0, 1.0]}
    kept = dedup_embedding(rows, 0.95, lambda texts: [vecs[t] for t in texts])
    assert [r["completion"][0]["content"] for r in kept] == ["a", "c"]


def test_mix_accumulates_filters_and_replays_with_a_record():
    cfg = MitigationConfig(
        data="accumulate", min_confidence=0.5, dedup="exact", replay_fraction=0.2
    )
    now = [row("q1", "x", vote_share=0.9), row("q2", "y", vote_share=0.2)]
    earlier = [[row("q0", "w", vote_share=1.0)], [row("q1", "x", vote_share=0.9)]]
    pool = [row(f"h{i}", "human") for i in range(10)]
    data, rec = mix(cfg, now, earlier, pool, seed=1)
    assert rec == {
        "loop_rows": 2,
        "dropped_low_confidence": 1,
        "accumulated_rows": 2,
        "dropped_duplicates": 1,
        "replay_rows": 1,
        "train_rows": 3,
    }
    assert [r.get("source") for r in data] == [None, None, "replay"]
    assert mix(cfg, now, earlier, pool, seed=1) == (data, rec)  # deterministic: resumes match
    with pytest.raises(ConfigError, match="replay source holds no rows"):
        mix(cfg, now, earlier, [], seed=1)
    assert mix(MitigationConfig(), now, earlier, pool, seed=1)[0] == now  # replace: only this round


def test_arithmetic_reference_solution_is_right():
    from driftlab.tasks import build_task

    task = build_task("arithmetic", steps=3, operations=["+", "-", "*"])
    for p in task.problems("train", 20):
        text = task.reference_solution(p)
        assert text is not None
        assert task.is_correct(task.extract(text), p.answer), text


def test_accumulate_replay_and_train_from_base_are_recorded(tiny_config, tmp_path):
    cfg = load_config(
        tiny_config(
            **{
                "rounds": 2,
                "mitigations.data": "accumulate",
                "mitigations.replay_fraction": 0.25,
                "mitigations.train_from": "base",
                "loop.min_vote_share": 0.0,
            }
        )
    )
    run = run_experiment(cfg, tmp_path / "run")
    root = tmp_path / "run"
    r1, r2 = (read_json(root / f"rounds/00{k}/lineage.json") for k in (1, 2))
    assert r2["adapters"] == ["rounds/002/adapter"] and r2["train_from"] == "base"
    loop1 = read_jsonl(root / "rounds/001/train.jsonl")
    loop2 = read_jsonl(root / "rounds/002/train.jsonl")
    trained2 = read_jsonl(root / "rounds/002/adapter/train_rows.jsonl")
    replay = [r for r in trained2 if r.get("source") == "replay"]
    assert r2["mitigations"]["accumulated_rows"] == len(loop1)
    assert len(trained2) == len(loop1) + len(loop2) + len(replay)
    assert len(replay) == replay_count(len(loop1) + len(loop2), 0.25)
    assert all("The answer is" in r["completion"][0]["content"] for r in replay)
    summary = {r["round"]: r for r in run["rounds"]}
    assert summary[2]["mitigate.replay_rows"] == len(replay)


def test_replay_on_a_dpo_loop_is_a_config_error(tiny_config, tmp_path):
    cfg = load_config(
        tiny_config(loop={"method": "self_rewarding"}, **{"mitigations.replay_fraction": 0.1})
    )
    with pytest.raises(DriftlabError, match="replay_fraction needs an SFT loop"):
        run_experiment(cfg, tmp_path / "run")
