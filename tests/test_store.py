import pytest

from driftlab.errors import DriftlabError
from driftlab.store import DirectoryBusy, RunStore, atomic_dir, read_json, write_json


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
