import json
import subprocess
import sys

from driftlab.config import load_config
from driftlab.experiment import run_experiment
from driftlab.store import read_json, read_jsonl


def test_a_run_writes_every_artifact(tiny_config, tmp_path):
    run = run_experiment(load_config(tiny_config()), tmp_path / "run")
    assert run["status"] == "completed"
    assert [r["round"] for r in run["rounds"]] == [0, 1, 2]
    assert "capability.accuracy" in run["rounds"][0] and "reference_ppl.ppl" in run["rounds"][2]
    # every round carries its intervals; later rounds their paired tests against round 0
    lo, hi = run["rounds"][2]["ci"]["capability.accuracy"]
    assert 0 <= lo <= run["rounds"][2]["capability.accuracy"] <= hi <= 1
    assert {"reference_ppl.ppl", "diversity.distinct_2"} <= run["rounds"][0]["ci"].keys()
    assert "tests" not in run["rounds"][0]
    assert run["rounds"][1]["tests"]["capability.accuracy"]["test"] == "McNemar"
    stored = read_json(tmp_path / "run" / "rounds" / "001" / "metrics.json")["monitors"]
    assert stored["reference_ppl"]["intervals"]["ppl"]["method"] == "bootstrap over passages"
    rd = tmp_path / "run" / "rounds" / "001"
    proposals = read_jsonl(rd / "proposals.jsonl")
    assert (
        len(proposals) == 4 * 3
        and {"question", "answer", "vote_share", "selected"} <= proposals[0].keys()
    )
    assert (rd / "adapter" / "adapter_model.safetensors").exists()
    assert read_json(tmp_path / "run" / "rounds" / "002" / "lineage.json")["adapters"] == [
        "rounds/001/adapter",
        "rounds/002/adapter",
    ]
    # The loop never saw ground truth: no proposal or training row carries the answer key.
    assert not any("truth" in p for p in proposals)
    assert "torch" in run["versions"]


# A run killed after any write and resumed: tests/test_kill.py (real processes, SIGKILL).


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
    return subprocess.run(
        [sys.executable, "-m", "driftlab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_user_errors_are_one_message_without_traceback(tmp_path, tiny_config):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loop]\nmethod = 'lmsi'\nsamples = 0\n")
    for args in (
        ["run", str(bad)],
        ["run", "--preset", "nope"],
        ["run", "--resume", "--out", str(tmp_path / "x")],
        ["run"],
        ["run", str(tiny_config(**{"model.name": "no-such-model"})), "--out", str(tmp_path / "m")],
    ):
        res = cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr and "error" in res.stderr.lower(), (args, res.stderr)
    assert "loop.samples" in cli("run", str(bad)).stderr
    assert (
        "unknown model 'no-such-model'"
        in cli(
            "run",
            str(tiny_config(**{"model.name": "no-such-model"})),
            "--out",
            str(tmp_path / "m2"),
        ).stderr
    )


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
