import json
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from driftlab.config import load_config
from driftlab.experiment import Experiment, run_experiment
from driftlab.store import read_json, read_jsonl

VOLATILE = {"created", "updated", "wall_s", "seconds", "tokens_per_s", "train.seconds", "train.tokens_per_s"}


def scrub(obj):
    """Drop wall-clock fields: everything else must match between two runs."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def artifacts(root):
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.suffix == ".json":
            out[rel] = scrub(read_json(p))
        elif p.suffix == ".jsonl":
            out[rel] = read_jsonl(p)
        elif p.suffix == ".safetensors":
            out[rel] = {k: v.tolist() for k, v in load_file(p).items()}
        elif p.is_file() and p.name != "README.md":
            out[rel] = p.read_text()
    return out


def test_a_run_writes_every_artifact(tiny_config, tmp_path):
    run = run_experiment(load_config(tiny_config()), tmp_path / "run")
    assert run["status"] == "completed"
    assert [r["round"] for r in run["rounds"]] == [0, 1, 2]
    assert "capability.accuracy" in run["rounds"][0] and "reference_ppl.ppl" in run["rounds"][2]
    rd = tmp_path / "run" / "rounds" / "001"
    proposals = read_jsonl(rd / "proposals.jsonl")
    assert len(proposals) == 4 * 3 and {"question", "answer", "vote_share", "selected"} <= proposals[0].keys()
    assert (rd / "adapter" / "adapter_model.safetensors").exists()
    assert read_json(tmp_path / "run" / "rounds" / "002" / "lineage.json")["adapters"] == [
        "rounds/001/adapter", "rounds/002/adapter"]
    # The loop never saw ground truth: no proposal or training row carries the answer key.
    assert not any("truth" in p for p in proposals)
    assert "torch" in run["versions"]


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way up handles it."""


@pytest.mark.parametrize("step", ["_propose", "_train", "_measure"])
def test_killed_mid_round_and_resumed_equals_uninterrupted(step, tiny_config, tmp_path, monkeypatch):
    cfg_path = tiny_config()
    run_experiment(load_config(cfg_path), tmp_path / "whole")

    original = getattr(Experiment, step)

    def dies_in_round_2(self, k, *args):
        if k == 2:
            raise Killed()
        return original(self, k, *args)

    monkeypatch.setattr(Experiment, step, dies_in_round_2)
    with pytest.raises(Killed):
        run_experiment(load_config(cfg_path), tmp_path / "cut")
    monkeypatch.setattr(Experiment, step, original)
    assert read_json(tmp_path / "cut" / "run.json")["status"] == "running"  # as a SIGKILL leaves it
    run = run_experiment(None, tmp_path / "cut", resume=True)
    assert run["status"] == "completed"
    assert artifacts(tmp_path / "cut") == artifacts(tmp_path / "whole")


def test_resume_can_extend_a_finished_run(tiny_config, tmp_path):
    run_experiment(load_config(tiny_config(rounds=1)), tmp_path / "r")
    run = run_experiment(None, tmp_path / "r", resume=True, rounds=2)
    assert [r["round"] for r in run["rounds"]] == [0, 1, 2]


def test_a_round_that_selects_nothing_is_recorded(tiny_config, tmp_path):
    cfg = load_config(tiny_config(**{"loop.min_vote_share": 1.0, "loop.samples": 4, "rounds": 1}))
    run = run_experiment(cfg, tmp_path / "r")
    assert run["status"] == "completed"
    r1 = run["rounds"][1]
    assert r1["status"] == "empty" and r1["loop.questions_selected"] == 0
    loop = read_json(tmp_path / "r" / "rounds" / "001" / "loop.json")
    assert "nothing to train on" in loop["findings"][0]["message"]
    assert not (tmp_path / "r" / "rounds" / "001" / "adapter").exists()


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "driftlab", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_user_errors_are_one_message_without_traceback(tmp_path, tiny_config):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loop]\nmethod = 'lmsi'\nsamples = 0\n")
    for args in (["run", str(bad)], ["run", "--preset", "nope"], ["run", "--resume", "--out", str(tmp_path / "x")],
                 ["run"], ["run", str(tiny_config(**{"model.name": "no-such-model"})), "--out", str(tmp_path / "m")]):
        res = cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr and "error" in res.stderr.lower(), (args, res.stderr)
    assert "loop.samples" in cli("run", str(bad)).stderr
    assert "unknown model 'no-such-model'" in cli("run", str(tiny_config(**{"model.name": "no-such-model"})),
                                                   "--out", str(tmp_path / "m2")).stderr


def test_cli_models_lists_the_builtins():
    res = cli("models")
    assert res.returncode == 0
    for name in ("smollm2-135m-instruct", "gemma3-270m", "minilm-l6"):
        assert name in res.stdout


def test_cli_run_prints_the_round_table(tiny_config, tmp_path):
    res = cli("run", str(tiny_config(rounds=1)), "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert "baseline" in res.stdout and "trained" in res.stdout and "acc" in res.stdout
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "completed"
