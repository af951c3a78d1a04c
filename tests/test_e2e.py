"""End-to-end on the real packaged models (slower: de-quantizes SmolLM2 once, ~20 s)."""

import pytest

from driftlab.config import load_config
from driftlab.experiment import run_experiment
from driftlab.models.builtin import BUILTIN_MODELS, resolve
from driftlab.store import read_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def all_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_builtin_models_are_installed_and_cached_as_plain_fp32():
    assert all(m.installed() for m in BUILTIN_MODELS.values())
    path = resolve("smollm2-135m-instruct")
    config = (__import__("pathlib").Path(path) / "config.json").read_text()
    assert "quantization_config" not in config
    assert resolve("smollm2-135m-instruct") == path  # cached: the second call does no work


def test_quickstart_shaped_lmsi_round_on_smollm2(tmp_path):
    """One small LMSI round on the real model: it answers, votes, selects, trains, measures."""
    cfg = load_config(preset="quickstart")
    cfg.rounds = 1
    cfg.task.train_size, cfg.task.eval_size = 6, 6
    cfg.loop["samples"], cfg.loop["max_new_tokens"], cfg.loop["min_vote_share"] = 3, 64, 0.0
    for m in ("capability", "diversity"):
        cfg.monitors[m] = {"samples": 2, "max_new_tokens": 64}
    run = run_experiment(cfg.check(), tmp_path / "run")
    assert run["status"] == "completed"
    base, r1 = run["rounds"]
    # The instruct model answers arithmetic in the requested form often enough to parse.
    assert base["capability.no_answer_rate"] < 0.5
    assert 2 < base["reference_ppl.ppl"] < 100
    proposals = read_jsonl(tmp_path / "run" / "rounds" / "001" / "proposals.jsonl")
    assert sum(p["answer"] is not None for p in proposals) >= len(proposals) // 2
    assert r1["status"] == "trained" and r1["train.steps"] >= 1
    assert r1["reference_ppl.ppl"] != base["reference_ppl.ppl"]  # the trained adapter is in use
