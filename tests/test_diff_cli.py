"""`driftlab diff` end to end on tiny random-weight models, the run@round spec, the error paths,
and the diff monitor against round 0."""

from __future__ import annotations

import json
import sys

import pytest

from driftlab.cli import main
from driftlab.diff.sampling import parse_spec


def _cli(monkeypatch, *args) -> int:
    monkeypatch.setattr(sys, "argv", ["driftlab", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    assert isinstance(e.value.code, int)
    return e.value.code


def _run_dir(tmp_path, base, rounds=1):
    """A finished one-round run whose round 1 adapter is a real (random) LoRA on the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    adapter = run / "rounds" / "001" / "adapter"
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(adapter)
    (run / "config.toml").write_text(f'[model]\nname = "{base}"\n')
    (run / "run.json").write_text("{}")
    (run / "rounds" / "001" / "lineage.json").write_text(
        json.dumps({"parent": 0, "adapters": ["rounds/001/adapter"]})
    )
    return run


def test_diff_command_writes_findings_and_map(tiny_model, tmp_path, monkeypatch, capsys):
    run = _run_dir(tmp_path, str(tiny_model))
    assert parse_spec(f"{run}@1") == (str(tiny_model), [run / "rounds/001/adapter"])
    assert parse_spec(f"{run}@0") == (str(tiny_model), [])
    out = tmp_path / "diff"
    args = [
        "diff",
        tiny_model,
        f"{run}@1",
        "--out",
        out,
        "--max-prompts",
        24,
        "--max-new-tokens",
        5,
        "--labeler",
        tiny_model,
        "--intent",
        "be more helpful",
    ]
    monkeypatch.setattr(sys, "argv", ["driftlab", *map(str, args)])
    main()
    doc = json.loads((out / "findings.json").read_text())
    assert doc["schema"] == "driftlab.diff/1" and doc["n_texts"] == {"a": 24, "b": 24}
    assert sum(c["n_a"] + c["n_b"] for c in doc["clusters"]) == 48
    assert all(f["status"] in ("validated", "unvalidated", "untested") for f in doc["findings"])
    assert json.loads((out / "map.json").read_text())["method"] == "pca"
    printed = capsys.readouterr().out
    assert "clusters differ" in printed and "findings.json" in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-model", "no-such-model"], "unknown model 'no-such-model'"),
        (["{run}@7", "{run}@1"], "round 7 of"),
        (["{tmp}/nothing@2", "x"], "holds no run"),
        (["{run}@x", "x"], "must be a number"),
        (["a", "b", "--prompts", "{tmp}/missing.jsonl"], "does not exist"),
        (["a", "b", "--prompts", "{tmp}/bad.jsonl"], "bad.jsonl, line 1: not valid JSON"),
        (["a", "b", "--cluster", "spectral"], "cluster_method"),
        (["a", "b", "--dimensions", "length,nope"], "unknown diff dimension 'nope'"),
        (["a", "b", "--dimensions-file", "{tmp}/none.py"], "dimensions file"),
        (["openai:m", "b", "--amplify", "1"], "--amplify needs two local transformers"),
    ],
)
def test_diff_errors_are_one_message(tiny_model, tmp_path, monkeypatch, capsys, args, message):
    run = _run_dir(tmp_path, str(tiny_model))
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    args = [a.format(run=run, tmp=tmp_path) for a in args]
    assert _cli(monkeypatch, "diff", *args, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_amplified_diff_proposes_from_amplified_texts_and_validates_on_ordinary(
    tiny_model, tmp_path, monkeypatch, capsys
):
    run = _run_dir(tmp_path, str(tiny_model))
    out = tmp_path / "amp"
    args = ["diff", tiny_model, f"{run}@1", "--out", out, "--max-prompts", 24]
    args += ["--max-new-tokens", 5, "--labeler", tiny_model, "--amplify", 2]
    monkeypatch.setattr(sys, "argv", ["driftlab", *map(str, args)])
    main()
    doc = json.loads((out / "findings.json").read_text())
    assert doc["settings"]["amplify"] == 2 and doc["n_texts"] == {"a": 24, "b": 24}
    (cached,) = (out / "cache").glob("samples_b_amplified-*.json")
    rows = json.loads(cached.read_text())
    amp = {r["prompt_id"] for r in rows if r.get("amplified") == 2}
    ordinary = {r["prompt_id"] for r in rows if not r.get("amplified")}
    assert len(amp) == doc["split"]["label_prompts"] and not amp & ordinary
    assert len(ordinary) == doc["split"]["heldout_prompts"]  # validation sees only these


def test_diff_monitor_reports_a_planted_change_against_round_0(monkeypatch):
    from driftlab.diff import sampling
    from driftlab.monitors import MeasureContext, MonitorResult
    from driftlab.monitors.diff import Diff, DiffConfig
    from tests.scripted import Scripted
    from tests.test_diff import OCEAN, _judge_logprob

    plain = Scripted(lambda p, i: "A short plain answer about everyday matters and nothing else.")
    sea = Scripted(lambda p, i: OCEAN if len(p) % 2 == 0 else plain.reply(p, i))
    tools = {
        "lab": Scripted(lambda p, i: "mention the ocean and whales"),
        "jud": Scripted(None, _judge_logprob),
    }
    monkeypatch.setattr(sampling, "load_model", lambda spec, batch_size=32: tools[spec])
    mon = Diff(
        DiffConfig(enabled=True, labeler="lab", judge="jud", max_prompts=80, permutations=200)
    )
    base = mon.fit(None).score(MeasureContext(0, plain, None, [], seed=1))
    assert base.metrics["findings_validated"] == 0 and len(base.records) == 80
    res = mon.fit(MonitorResult.from_dict(base.to_dict())).score(
        MeasureContext(2, sea, None, [], seed=5)
    )
    assert res.metrics["findings_validated"] >= 1 and res.metrics["clusters_significant"] >= 1
    assert res.findings[0].source == "diff" and "ocean" in res.findings[0].message
    assert res.tables["findings"][0]["status"] == "validated"


def test_diff_monitor_runs_inside_a_loop(tiny_model, tiny_config, tmp_path):
    """Enabled in a config, the monitor needs no change to the round loop; resume refits from
    disk."""
    from driftlab.config import load_config
    from driftlab.experiment import run_experiment
    from driftlab.store import read_json

    cfg = load_config(
        tiny_config(
            **{
                "rounds": 1,
                "monitors.diff": {
                    "enabled": True,
                    "max_prompts": 16,
                    "max_new_tokens": 5,
                    "labeler": str(tiny_model),
                    "permutations": 99,
                },
            }
        )
    )
    run_experiment(cfg, tmp_path / "run")
    r0 = read_json(tmp_path / "run/rounds/000/metrics.json")["monitors"]["diff"]
    r1 = read_json(tmp_path / "run/rounds/001/metrics.json")["monitors"]["diff"]
    assert (
        len(r0["records"]) == len(r1["records"]) == 16 and r0["metrics"]["findings_validated"] == 0
    )
    from driftlab.diff.dimensions import DIMENSIONS

    assert (
        set(r1["metrics"])
        == set(r0["metrics"])
        == {
            "clusters_significant",
            "findings_validated",
            "hypotheses_unvalidated",
            "max_abs_cohens_h",
            "dimension_shifts",
            *(f"dim_{n}" for n in DIMENSIONS.names()),
        }
    )
    assert len(r1["tables"]["dimensions"]) == len(DIMENSIONS.names())
    assert sum(c["n_a"] + c["n_b"] for c in r1["tables"]["clusters"]) == 32
    assert r0["records"] != r1["records"]  # a new sample each round, not round 0 again
