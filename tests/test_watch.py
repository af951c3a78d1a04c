"""`driftlab watch` on checkpoint folders written by a real transformers Trainer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from driftlab.integrations.checkpoints import Checkpoint, Completion, find
from driftlab.integrations.settings import load_watch_config
from driftlab.integrations.watch import Watcher
from tests.checkpoint_trainer import train
from tests.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, base: Path | None, rules=(), **watch) -> Path:
    cfg = {
        "name": "w",
        "task": {"name": "arithmetic", "eval_size": 3},
        "monitors": {
            "capability": {"samples": 1, "max_new_tokens": 6},
            "diversity": {"samples": 2, "max_new_tokens": 6, "embedding": "", "self_bleu": False},
            "reference_ppl": {"enabled": False},
            "reflectivity": {"enabled": False},
        },
        "guard": {"rules": list(rules)},
        "watch": {"poll_s": 0.3, "settle_s": 0.5, "idle_timeout_s": 120, **watch},
    }
    if base is not None:
        cfg["model"] = {"name": str(base), "batch_size": 16}
    path.write_text(tomli_w.dumps(cfg))
    return path


def cli(*args, wait=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "driftlab", *map(str, args)]
    if not wait:
        return subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def checkpoints(tiny_model, tmp_path_factory):
    """checkpoint-1..3 of a finished Trainer run (full weights, tokenizer saved with each)."""
    return train(tiny_model, tmp_path_factory.mktemp("trainer") / "out", steps=3)


def test_follow_measures_checkpoints_as_a_trainer_writes_them(tiny_model, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    cfg = write_config(tmp_path / "watch.toml", tiny_model)
    watch = cli("watch", folder, "--config", cfg, "--out", tmp_path / "run", "--follow", wait=False)
    time.sleep(1)
    assert watch.poll() is None  # watching an empty folder, waiting
    trainer = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "checkpoint_trainer.py"),
            str(tiny_model),
            str(folder),
            "3",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert trainer.returncode == 0, trainer.stderr
    out, err = watch.communicate(timeout=300)
    assert watch.returncode == 0, err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "completed" and run["method"] == "watch"
    # round 0 is the base model; every checkpoint, each written after watch started, is a round
    assert [(r["round"], r.get("checkpoint")) for r in run["rounds"]] == [
        (0, None),
        (1, "checkpoint-1"),
        (2, "checkpoint-2"),
        (3, "checkpoint-3"),
    ]
    assert all("capability.accuracy" in r for r in run["rounds"])
    assert (tmp_path / "run" / "report.html").exists()
    assert "Traceback" not in err
    assert "step" in out  # the round table


def test_post_hoc_tripwire_writes_the_stop_marker_and_exits_3(checkpoints, tiny_model, tmp_path):
    folder = tmp_path / "out"
    shutil.copytree(checkpoints, folder)
    cfg = write_config(tmp_path / "watch.toml", None, rules=["step >= 2"])
    res = cli("watch", folder, "--config", cfg, "--out", tmp_path / "run")
    assert res.returncode == 3, res.stderr
    assert "tripwire" in res.stdout and "step >= 2" in res.stdout
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    # no base model: the first checkpoint is round 0; checkpoint-2 fires, checkpoint-3 is never read
    assert [r["checkpoint"] for r in run["rounds"]] == ["checkpoint-1", "checkpoint-2"]
    assert run["status"] == "halted" and run["halt"]["round"] == 1
    marker = json.loads((folder / "driftlab-stop.json").read_text())
    assert marker["hits"][0]["rule"] == "step >= 2" and marker["final_round"] == 0


def test_resume_measures_only_new_checkpoints(checkpoints, tiny_model, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    shutil.copytree(checkpoints / "checkpoint-1", folder / "checkpoint-1")
    cfg = load_watch_config(write_config(tmp_path / "watch.toml", tiny_model))
    Watcher(cfg, folder, tmp_path / "run").run(follow=False)
    first = (tmp_path / "run" / "rounds" / "001" / "metrics.json").stat().st_mtime_ns
    shutil.copytree(checkpoints / "checkpoint-2", folder / "checkpoint-2")
    run = Watcher(cfg, folder, tmp_path / "run", resume=True).run(follow=False)
    assert [r.get("checkpoint") for r in run["rounds"]] == [None, "checkpoint-1", "checkpoint-2"]
    assert (tmp_path / "run" / "rounds" / "001" / "metrics.json").stat().st_mtime_ns == first


def test_a_half_written_checkpoint_is_not_read(tmp_path):
    c = Checkpoint(tmp_path / "checkpoint-5", 5)
    c.path.mkdir()
    (c.path / "model.safetensors").write_bytes(b"x" * 10)
    marked = Completion(settle_s=60)
    assert not marked.ready(c)  # weights there, trainer_state.json (written last) not yet
    (c.path / "trainer_state.json").write_text("{}")
    assert marked.ready(c)
    d = Checkpoint(tmp_path / "step_7", 7)  # a trainer without the marker: a stable file set
    d.path.mkdir()
    (d.path / "model.safetensors").write_bytes(b"x")
    stable = Completion(settle_s=0.3)
    assert not stable.ready(d)
    time.sleep(0.35)
    (d.path / "model.safetensors").write_bytes(b"xx")  # still growing
    assert not stable.ready(d)
    time.sleep(0.35)
    assert stable.ready(d)
    assert [x.step for x in find(tmp_path, "checkpoint-*")] == [5]


def test_bad_input_is_one_message_and_exit_2(checkpoints, tiny_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"  # a checkpoint of a wider model than the base
    build_tiny_model(other / "checkpoint-1", hidden=64)
    adapters = train(tiny_model, tmp_path / "lora", steps=1, lora=True)
    wide = build_tiny_model(tmp_path / "wide", hidden=64)
    wide_adapters = train(wide, tmp_path / "wide-lora", steps=1, lora=True)
    cases = [
        (empty, tiny_model, "holds no checkpoint folders"),
        (other, tiny_model, "another architecture"),
        (adapters, None, "names no base model"),
        (wide_adapters, tiny_model, "adapter for another architecture"),
        (tmp_path / "missing", tiny_model, "is not a folder"),
    ]
    for i, (folder, base, message) in enumerate(cases):
        cfg = write_config(tmp_path / f"w{i}.toml", base)
        res = cli("watch", folder, "--config", cfg, "--out", tmp_path / f"run{i}")
        assert res.returncode == 2, (folder, res.stderr)
        said = " ".join(res.stderr.split())  # the console wraps long lines
        assert message in said and "Traceback" not in said and said.startswith("error:"), said
        assert not (tmp_path / f"run{i}").exists()  # checked before any run directory or model


def test_adapter_checkpoints_are_rounds_on_the_base(tiny_model, tmp_path):
    adapters = train(tiny_model, tmp_path / "lora", steps=2, lora=True)
    cfg = load_watch_config(write_config(tmp_path / "watch.toml", tiny_model))
    run = Watcher(cfg, adapters, tmp_path / "run").run(follow=False)
    assert [r.get("checkpoint") for r in run["rounds"]] == [None, "checkpoint-1", "checkpoint-2"]


def test_diff_specs_accept_checkpoint_folders(checkpoints, tiny_model, tmp_path):
    from driftlab.models.base import SamplingParams
    from driftlab.models.spec import load_model, parse_spec, spec_identity

    adapters = train(tiny_model, tmp_path / "lora", steps=1, lora=True)
    base, stack = parse_spec(str(adapters / "checkpoint-1"))
    assert Path(base) == Path(tiny_model) and stack == [adapters / "checkpoint-1"]
    assert parse_spec(str(checkpoints / "checkpoint-2")) == (str(checkpoints / "checkpoint-2"), [])
    assert spec_identity(str(checkpoints / "checkpoint-2"))["weights"] is not None
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=4, seed=0)
    for spec in (checkpoints / "checkpoint-2", adapters / "checkpoint-1"):
        out = load_model(str(spec)).generate([[{"role": "user", "content": "2 plus 3?"}]], params)
        assert len(out) == 1 and out[0][0].num_tokens >= 1
