import pytest

from driftlab.errors import DriftlabError
from driftlab.lineage import Lineage
from driftlab.store import (
    DirectoryBusy,
    RunStore,
    atomic_dir,
    read_json,
    write_json,
    write_jsonl,
)


def test_atomic_write_keeps_the_old_file_when_serialising_fails(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_json(path, {"x": Boom()})
    assert read_json(path) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left


def test_atomic_dir_appears_only_when_the_block_finishes(tmp_path):
    target = tmp_path / "adapter"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("whole")
    assert (target / "weights").read_text() == "whole"


def test_create_refuses_to_overwrite_a_run(tmp_path):
    store = RunStore.create(tmp_path / "r", "rounds = 1\n", {"name": "x"})
    store.record_round({"round": 1, "a": 1})
    store.record_round({"round": 0, "a": 0})
    store.record_round({"round": 1, "a": 2})
    assert [r["a"] for r in store.read_run()["rounds"]] == [0, 2]
    with pytest.raises(DriftlabError, match="already holds a run"):
        RunStore.create(tmp_path / "r", "", {})
    with pytest.raises(DriftlabError, match="no run to resume"):
        RunStore.open(tmp_path / "elsewhere")


def test_the_lock_admits_one_writer_and_close_releases_it(tmp_path):
    store = RunStore.create(tmp_path / "r", "rounds = 1\n", {"name": "x"})
    with pytest.raises(DirectoryBusy, match=r"in use by another driftlab process \(pid \d+\)"):
        RunStore.open(tmp_path / "r")  # another open file description: refused even in-process
    store.close()
    RunStore.open(tmp_path / "r").close()


def test_opening_for_writing_sweeps_what_killed_writes_left(tmp_path):
    store = RunStore.create(tmp_path / "r", "rounds = 1\n", {"name": "x"})
    write_json(store.artifact(1, "metrics.json"), {"a": 1})
    left = [store.artifact(1, ".metrics.json.abc123.tmp"), store.root / ".run.json.x1.tmp"]
    for p in left:
        p.write_text("half")
    half_adapter = store.artifact(1, ".adapter.q9.tmp")
    (half_adapter / ".train_stats.json.z.tmp").mkdir(parents=True)
    keep = store.artifact(1, "notes.tmp")  # not a temporary of ours: no leading dot
    keep.write_text("mine")
    store.close()
    RunStore.open(tmp_path / "r").close()
    assert not any(p.exists() for p in [*left, half_adapter]) and keep.exists()
    assert read_json(store.artifact(1, "metrics.json")) == {"a": 1}


def test_the_read_view_finds_every_artifact_by_name(tmp_path):
    store = RunStore.create(tmp_path / "run", 'rounds = 2\n[model]\nname = "m"\n', {"seed": 0})
    store.close()
    write_json(store.artifact(1, "loop.json"), {"stats": {}, "findings": [{"message": "a"}]})
    write_json(store.artifact(1, "metrics.json"), {"monitors": {}, "findings": [{"message": "b"}]})
    write_jsonl(store.artifact(2, "proposals.jsonl"), [{"x": 1}])
    view = RunStore(tmp_path / "run")
    assert view.round_numbers() == [1, 2] and view.config()["model"]["name"] == "m"
    assert [(name, f["message"]) for name, f in view.findings(1)] == [
        ("loop.json", "a"),
        ("metrics.json", "b"),
    ]
    assert view.proposals(2) == [{"x": 1}] and view.proposals(1) is None
    assert view.metrics(2) is None and view.train_stats(1) is None
    assert view.monitor_tables(1, "capability") == {}
    assert view.href(2, "proposals.jsonl") == "rounds/002/proposals.jsonl"
    assert [view.metric_source(m) for m in ("loop.x", "train.loss", "capability.accuracy")] == [
        "loop.json",
        "adapter/train_stats.json",
        "metrics.json",
    ]


def test_the_lineage_stacks_adapters_and_walks_back_to_the_base(tmp_path):
    store = RunStore.create(tmp_path / "run", '[model]\nname = "base-model"\n', {"seed": 0})
    lineage = Lineage(store)
    lineage.record(1, 0, from_base=False, mitigations={})
    lineage.record(2, 1, from_base=False, mitigations={})
    lineage.record(3, 1, from_base=True, mitigations={"train_rows": 4})  # 2 was rolled back
    root = store.root
    assert lineage.adapters(0) == [] and lineage.base_model() == "base-model"
    assert lineage.adapters(2) == [root / "rounds/001/adapter", root / "rounds/002/adapter"]
    assert lineage.adapters(3) == [root / "rounds/003/adapter"]  # trained on the base alone
    assert lineage.ancestry(2) == [1, 2] and lineage.ancestry(3) == [1, 3]
    assert lineage.has(0) and lineage.has(3) and not lineage.has(4)
    entry = read_json(store.artifact(3, "lineage.json"))
    assert entry["train_from"] == "base" and entry["mitigations"] == {"train_rows": 4}
    store.close()
