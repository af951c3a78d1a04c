"""The offline vllm: backend's glue, unit-tested against a stand-in `vllm` module.

What is checked: spec parsing, the engine and sampling arguments handed to vLLM (per-chat
seeds, greedy, stop strings, tensor parallelism), and how its outputs become Completions and
log-prob sums. vLLM itself runs for real in test_vllm_engine.py (a vLLM CPU server as the
policy's sampler); this file is not the proof that vLLM works.
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace as NS
from typing import Any

import pytest

from driftlab.errors import DriftlabError
from driftlab.models import load_generator
from driftlab.models.base import SamplingParams
from driftlab.models.vllm import (
    VLLMConfig,
    VLLMModel,
    prompt_logprob_sum,
    sampling_kwargs,
    to_completions,
)


def test_spec_parsing_and_engine_args():
    cfg = VLLMConfig.from_spec(
        "org/model?tensor_parallel_size=4&gpu_memory_utilization=0.8"
        "&enable_prefix_caching=false&max_model_len=4096"
    )
    assert cfg.engine_args() == {
        "model": "org/model",
        "tensor_parallel_size": 4,
        "pipeline_parallel_size": 1,
        "gpu_memory_utilization": 0.8,
        "max_model_len": 4096,
        "dtype": "auto",
        "seed": 0,
        "enable_prefix_caching": False,
    }
    assert VLLMConfig.from_spec("m", lora="/a").engine_args()["enable_lora"] is True


@pytest.mark.parametrize(
    "spec, message",
    [
        ("m?tensor_parallel=2", "unknown setting 'tensor_parallel'"),
        ("m?tensor_parallel_size=two", "is not a int"),
        ("m?tensor_parallel_size=0", "must be >= 1"),
        ("m?gpu_memory_utilization=1.5", r"\(0, 1\]"),
        ("m?enable_prefix_caching=maybe", "is not a bool"),
        ("", "no model"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DriftlabError, match=message):
        VLLMConfig.from_spec(spec)


def test_sampling_kwargs_give_each_chat_its_own_seed():
    p = SamplingParams(n=4, temperature=0.7, top_p=0.9, max_new_tokens=64, stop=("\n\n",), seed=3)
    a, b = sampling_kwargs(p, 0), sampling_kwargs(p, 1)
    assert a == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 300009,
    }
    assert b["seed"] == a["seed"] + 1
    greedy = sampling_kwargs(SamplingParams(n=1, temperature=0), 0)
    assert greedy["temperature"] == 0 and greedy["stop"] is None


def test_outputs_to_completions_and_logprob_sums():
    out = NS(
        outputs=[
            NS(index=1, text=" b ", token_ids=[5, 6], finish_reason="stop"),
            NS(index=0, text="a", token_ids=[1, 2, 3], finish_reason="length"),
        ]
    )
    assert [(c.text, c.num_tokens, c.finish_reason) for c in to_completions(out)] == [
        ("a", 3, "length"),
        ("b", 2, "stop"),
    ]
    lp = lambda v: NS(logprob=v)  # noqa: E731
    scored = NS(
        prompt_token_ids=[7, 8, 9, 10],
        prompt_logprobs=[None, {8: lp(-1.0)}, {9: lp(-2.0), 4: lp(-0.1)}, {10: lp(-0.5)}],
    )
    assert prompt_logprob_sum(scored, 1) == (-3.5, 3)
    assert prompt_logprob_sum(scored, 2) == (-2.5, 2)
    assert prompt_logprob_sum(scored, 0) == (-3.5, 3)  # position 0 has no context


class FakeLLM:
    """Records what driftlab hands to vLLM and answers in vLLM's output shapes."""

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []

    def chat(self, messages, sampling_params, use_tqdm=True, lora_request=None):
        self.calls.append(("chat", messages, sampling_params, lora_request))
        return [
            NS(
                outputs=[
                    NS(
                        index=k,
                        text=f"chat{i} sample{k} seed{sp.kw['seed']}",
                        token_ids=[0] * (k + 1),
                        finish_reason="stop",
                    )
                    for k in range(sp.kw["n"])
                ]
            )
            for i, sp in enumerate(sampling_params)
        ]

    def generate(self, prompts, sampling_params, use_tqdm=True, lora_request=None):
        self.calls.append(("generate", prompts, sampling_params, lora_request))
        return [
            NS(
                prompt_token_ids=p["prompt_token_ids"],
                prompt_logprobs=[None] + [{t: NS(logprob=-1.0)} for t in p["prompt_token_ids"][1:]],
            )
            for p in prompts
        ]

    def get_tokenizer(self):
        return NS(
            bos_token_id=99,
            encode=lambda s, add_special_tokens=False: [ord(c) for c in s],
            apply_chat_template=lambda chat, tokenize, add_generation_prompt: (
                "".join(m["content"] for m in chat) + ">"
            ),
        )


@pytest.fixture
def fake_vllm(monkeypatch):
    mod: Any = types.ModuleType("vllm")  # a stand-in: its attributes are set below
    mod.LLM = FakeLLM
    mod.SamplingParams = lambda **kw: NS(kw=kw)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def test_model_through_load_generator(fake_vllm):
    model = load_generator("vllm:org/model?tensor_parallel_size=2", seed=5)
    assert isinstance(model, VLLMModel) and model.name == "vllm:org/model"
    assert model.llm.kwargs["tensor_parallel_size"] == 2 and model.llm.kwargs["seed"] == 5
    chats = [[{"role": "user", "content": "x"}], [{"role": "user", "content": "y"}]]
    out = model.generate(chats, SamplingParams(n=2, seed=1))
    assert [[c.text for c in row] for row in out] == [
        ["chat0 sample0 seed100003", "chat0 sample1 seed100003"],
        ["chat1 sample0 seed100004", "chat1 sample1 seed100004"],
    ]
    assert out[0][1].num_tokens == 2
    # chat scoring: prompt "ab>" (3 tokens) then completion "cd": only the completion counts
    assert model.logprobs([[{"role": "user", "content": "ab"}]], ["cd"]) == [-2.0]
    # raw text: BOS prepended, every text token scored
    assert model.text_logprobs(["hey"]) == [(-3.0, 3)]
    kind, prompts, sp, _ = model.llm.calls[-1]
    assert kind == "generate" and prompts[0]["prompt_token_ids"][0] == 99
    assert sp.kw == {"max_tokens": 1, "temperature": 0, "prompt_logprobs": 0}
    # a judge's options: prompt + option handed to vLLM as token ids, only the option's summed
    # (the stand-in gives every token -1.0, so a sum counts the tokens that were scored)
    chat = [{"role": "user", "content": "ab"}]
    assert model.option_logprobs([chat, chat, "raw"], ["(A)", "B", "xy"]) == [-3.0, -1.0, -2.0]
    _, prompts, _, _ = model.llm.calls[-1]
    assert [p["prompt_token_ids"] for p in prompts] == [
        [ord(c) for c in "ab>(A)"],
        [ord(c) for c in "ab>B"],
        [ord(c) for c in "rawxy"],  # raw text: no template
    ]


def test_missing_vllm_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(DriftlabError, match=r"vLLM is not importable here.*make vllm-env"):
        load_generator("vllm:org/model")
