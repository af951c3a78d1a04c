import pytest

from driftlab.errors import DriftlabError
from driftlab.store import RunStore, atomic_dir, read_json, write_json


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
