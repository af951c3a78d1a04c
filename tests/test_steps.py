"""steps.py: one hash and one read-or-compute-and-write step for runs, diffs and w2s units.

The hash must name the files the two old caches wrote: the diff's STEP-KEY files (sha256 of
sorted-key JSON, non-ASCII kept, `default=str`) and w2s units/KEY.json (sha256 of sorted-key
JSON with the default ASCII escapes). Both old formulas are frozen here and compared with
`key_of` on specs of the shapes the two callers build.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from driftlab.steps import JSONL, Steps, key_of, once, once_dir
from driftlab.w2s.config import list_w2s_presets, load_w2s_config
from driftlab.w2s.units import Runner


def old_diff_key(inputs) -> str:  # diff/cache.key_of before steps.py
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def old_unit_hash(spec) -> str:  # w2s/units.unit_hash before steps.py
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("preset", list_w2s_presets())
def test_w2s_unit_files_keep_their_names(tmp_path, preset):
    """Every shipped w2s preset's student and prompt specs, as Runner.unit completes them."""
    cfg = load_w2s_config(preset=preset)
    runner = Runner(cfg, tmp_path)
    student = {
        "task": cfg.tasks[0].model_dump(),
        "seed": cfg.seeds[0],
        "model": cfg.ladder[-1],
        "variant": "standard",
        "role": "student",
        "supervisor": cfg.ladder[0],
        "loss": "confidence",
        "labels_from": "abcdef0123456789",
        "loss_cfg": cfg.loss.model_dump(include={"confidence_max", "warmup_frac"}),
    }
    prompt = {
        "task": cfg.tasks[0].model_dump(),
        "seed": 0,
        "model": cfg.ladder[-1],
        "role": "prompt",
        "mode": "zero_shot",
        "supervisor": None,
        "shots": 4,
        "n_test": 10,
        "shot_labels": [True, False, True],
    }
    for spec in (student, prompt):
        unit = runner.unit(spec, lambda: {"test_acc": 0.5})
        assert (tmp_path / "units" / f"{old_unit_hash(unit['spec'])}.json").is_file()
        assert unit["key"] == old_unit_hash(unit["spec"]) == old_diff_key(unit["spec"])
    assert (runner.trained, runner.cached) == (2, 0)
    runner.unit(student, lambda: pytest.fail("a cached unit was recomputed"))
    assert (runner.trained, runner.cached) == (2, 1)


def test_diff_step_keys_keep_their_names():
    """Inputs of the diff's shapes: sampled records with non-ASCII text, a run-round model
    identity (tuples, a Path), validation jobs."""
    records = [
        {"prompt_id": "p1", "sample": 0, "text": "Café au lait — naïve ☕", "model": "a"},
        {"prompt_id": "p2", "sample": 0, "text": "plain", "model": "b"},
    ]
    ident = {
        "spec": "runs/x@1",
        "base": "smollm2-135m-instruct",
        "adapters": [("runs/x/rounds/001/adapter", 1733350000123456789)],
        "weights": None,
    }
    inputs = [
        records,
        {"prompts_sha": "0" * 16, "n": 2, "samples": 1, "temperature": 0.7, "model": ident},
        {"cluster": "c" * 16, "judge": ["embedding", "all-minilm"], "jobs": [(0, "café", "k")]},
        {"where": Path("runs/x"), "alpha": 1.5},  # not JSON: hashed by its str, as before
    ]
    for x in inputs:
        assert key_of(x) == old_diff_key(x)
    # frozen values, so a change to the formula cannot pass unnoticed (it would orphan caches)
    assert (
        key_of({"embed": "abc", "method": "kmeans", "k": [2, 8], "seed": 0}) == "df02164449df36b2"
    )
    assert key_of({"text": "naïve — café", "model": "a"}) == "352e062060c65215"
    # the one place the two old formulas differed: non-ASCII text, where the diff's wins
    # (its keys hash sampled texts; w2s specs are ASCII, checked above on every preset)
    assert old_unit_hash(records) != key_of(records)


def test_steps_reuse_and_rekey(tmp_path):
    calls: list[int] = []

    def compute(v: int) -> dict:
        calls.append(v)
        return {"v": v}

    cache = Steps(tmp_path)
    v1, k1 = cache.json("step", {"x": 1}, lambda: compute(1))
    again = Steps(tmp_path)
    v2, k2 = again.json("step", {"x": 1}, lambda: compute(2))
    v3, k3 = cache.json("step", {"x": 2}, lambda: compute(3))
    assert (v1, v2, v3) == ({"v": 1}, {"v": 1}, {"v": 3}) and calls == [1, 3] and k1 == k2 != k3
    assert again.hits == ["step"] and again.timings == {"step": 0.0} and cache.hits == []
    a, _ = cache.array("emb", {"x": 1}, lambda: np.eye(2))
    b, _ = Steps(tmp_path).array("emb", {"x": 1}, lambda: pytest.fail("recomputed"))
    assert np.array_equal(a, b) and b.dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"step-{k1}.json", f"step-{k3}.json", f"emb-{key_of({'x': 1})}.npy"]
    )  # named NAME-KEY.EXT, and atomic writes leave no temporary files
    nothing = Steps(None)
    assert nothing.json("step", {"x": 1}, lambda: {"v": 9})[0] == {"v": 9}  # no disk: computed


def test_once_marks_a_step_done_only_by_its_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    with pytest.raises(RuntimeError):
        once(path, lambda: (_ for _ in ()).throw(RuntimeError("killed")), JSONL)
    assert not path.exists()
    rows = [{"a": "é", "n": 1}]
    assert once(path, lambda: rows, JSONL) == (rows, False)
    assert once(path, lambda: pytest.fail("recomputed"), JSONL) == (rows, True)


def test_once_dir_publishes_the_folder_only_when_built(tmp_path):
    path = tmp_path / "adapter"

    def broken(tmp: Path) -> dict:
        (tmp / "weights").write_text("half")
        raise KeyboardInterrupt  # a kill mid-training

    with pytest.raises(KeyboardInterrupt):
        once_dir(path, broken, lambda p: pytest.fail("nothing to read"))
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary left behind

    def build(tmp: Path) -> dict:
        (tmp / "weights").write_text("full")
        return {"built": True}

    def read(p: Path) -> dict:
        return {"read": (p / "weights").read_text()}

    assert once_dir(path, build, read) == {"built": True}
    assert once_dir(path, lambda tmp: pytest.fail("rebuilt"), read) == {"read": "full"}
