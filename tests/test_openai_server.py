"""The openai backend against a real llama.cpp server (SmolLM2-135M GGUF) on 127.0.0.1.

One server for the whole session; faults come from our own proxy in front of it (slow
replies, 500s, 429s, connections dropped mid-reply, truncated bodies). The client must
retry, record every failure, and return exactly what the server gives without faults.
"""

from __future__ import annotations

import json
import math

import pytest

from driftlab.errors import DriftlabError
from driftlab.models import load_generator
from driftlab.models.base import Prompt, SamplingParams
from driftlab.models.openai import OpenAIModel
from tests.fault_proxy import FaultProxy
from tests.llama_server import MODEL_ALIAS, LlamaServer

POEM = [{"role": "user", "content": "Write one line of a poem about the sea."}]
COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = SamplingParams(n=1, temperature=0, max_new_tokens=12, seed=0)


@pytest.fixture(scope="session")
def server_url():
    with LlamaServer(threads=2) as url:
        yield url


def client(url: str, **options) -> OpenAIModel:
    options.setdefault("backoff", 0.05)
    model = load_generator(f"openai:{MODEL_ALIAS}@{url}", **options)
    assert isinstance(model, OpenAIModel)
    return model


def test_chat_n_samples_with_a_seed_each(server_url):
    with FaultProxy(server_url) as proxy:  # no faults: it only lets us read the requests
        model = client(proxy.url, concurrency=2)
        params = SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=7)
        out = model.generate([POEM, COUNT], params)
        assert [len(row) for row in out] == [3, 3]
        assert all(c.text and 0 < c.num_tokens <= 10 for row in out for c in row)
        assert len({c.text for c in out[0]}) > 1  # three seeds, not one sample three times
        # llama.cpp answers one choice per request: learnt once, the rest asked for one by one
        assert model.server_n is False and model.stats["refill"] == 1
        first = sorted(proxy.bodies, key=lambda b: b["seed"])
        model.generate([POEM, COUNT], params)  # now one request per sample from the start
        second = sorted(proxy.bodies[len(first) :], key=lambda b: b["seed"])
    assert len(first) == len(second) == 6 and model.stats.get("failure", 0) == 0
    # sample k of chat i asks for the same seed whichever way it was asked for
    assert [(b["seed"], b["messages"]) for b in first] == [
        (b["seed"], b["messages"]) for b in second
    ]
    assert len({b["seed"] for b in first}) == 6


def test_stop_strings_and_greedy(server_url):
    model = client(server_url)
    [[full]] = model.generate([COUNT], SamplingParams(n=1, temperature=0, max_new_tokens=40))
    assert "4" in full.text and "5" in full.text
    [[cut]] = model.generate(
        [COUNT], SamplingParams(n=1, temperature=0, max_new_tokens=40, stop=("5",))
    )
    assert "5" not in cut.text and cut.finish_reason == "stop"
    assert full.text.startswith(cut.text)


def test_completions_endpoint_renders_the_same_prompt(server_url):
    chat = client(server_url)
    text = client(server_url, endpoint="completions", template="smollm2-135m-instruct")
    assert (
        chat.generate([CAPITAL], GREEDY)[0][0].text == text.generate([CAPITAL], GREEDY)[0][0].text
    )


def test_logprobs_agree_with_the_transformers_backend(server_url):
    from driftlab.models.hf import HFModel

    model = client(server_url, template="smollm2-135m-instruct")
    local = HFModel.load("smollm2-135m-instruct", device="cpu")
    completions = ["The capital of France is Paris.", "The capital of France is Berlin."]
    served = model.logprobs([CAPITAL, CAPITAL], completions)
    expected = local.logprobs([CAPITAL, CAPITAL], completions)
    for s, e in zip(served, expected):  # same Q4_1 weights, different kernels
        assert math.isclose(s, e, rel_tol=0.1, abs_tol=0.5), (served, expected)
    assert served[1] < served[0] < 0
    texts = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."]
    for (s_lp, s_n), (l_lp, l_n) in zip(model.text_logprobs(texts), local.text_logprobs(texts)):
        # an echoed prompt's first token has no log-prob (OpenAI's convention): one token fewer
        assert s_n == l_n - 1 and l_lp < s_lp < 0
        assert -25 < l_lp - s_lp < 0  # what is missing is one token's worth


def test_faults_are_retried_recorded_and_results_complete(server_url, tmp_path):
    chats = [POEM, COUNT, CAPITAL]
    clean = client(server_url).generate(chats, GREEDY)
    script = ["slow", "http500", "drop", "http429", "truncate"]
    log = tmp_path / "requests.jsonl"
    with FaultProxy(server_url, script, slow_s=3.0) as proxy:
        model = client(proxy.url, timeout=2.0, concurrency=2, log_path=str(log))
        out = model.generate(chats, GREEDY)
    assert [[c.text for c in row] for row in out] == [[c.text for c in row] for row in clean]
    stats = model.stats
    for kind in ("timeout", "http_500", "connection", "http_429", "bad_reply"):
        assert stats[f"failure:{kind}"] >= 1, stats
    assert stats["retry"] == stats["failure"] >= 5 and stats["ok"] == 3
    assert stats["request"] == stats["ok"] + stats["failure"] == len(proxy.seen)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(events) == sum(v for k, v in stats.items() if ":" not in k)


def test_exhausted_retries_raise_one_clear_error_and_keep_the_log(server_url, tmp_path):
    log = tmp_path / "requests.jsonl"
    log.write_text('{"event": "earlier"}\n')
    with FaultProxy(server_url, always="http500") as proxy:
        model = client(proxy.url, max_retries=2, concurrency=1, log_path=str(log))
        with pytest.raises(
            DriftlabError, match=r"1 of 3 requests failed: .*gave up after 3 attempts.*http_500"
        ):
            model.generate([POEM, COUNT, CAPITAL], GREEDY)
    assert len(proxy.seen) == 3  # the first request's 3 attempts; nothing more was started
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[0] == "earlier" and events[1:].count("request") == 3 and events[-1] == "gave_up"


def test_api_key_from_environment_and_missing_logprobs(server_url, monkeypatch):
    monkeypatch.setenv("DRIFTLAB_TEST_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    with FaultProxy(server_url, always=None) as proxy:
        model = client(proxy.url, api_key_env="DRIFTLAB_TEST_KEY")
        model.generate([CAPITAL], GREEDY)
        assert proxy.auth == ["Bearer sk-test"]
    with FaultProxy(server_url, always=None) as proxy:  # plain http: the default key stays home
        client(proxy.url).generate([CAPITAL], GREEDY)
        assert proxy.auth == [None]
    with FaultProxy(server_url, always="http404") as proxy:  # a chat-only server
        model = client(proxy.url)
        with pytest.raises(DriftlabError, match="does not give prompt log-probabilities"):
            model.text_logprobs(["some text"])
        with pytest.raises(DriftlabError, match="does not give prompt log-probabilities"):
            model.text_logprobs(["asked again: no second request"])
        assert len(proxy.seen) == 1


# Measured on this GGUF (`pytest tests/test_openai_server.py -k option_logprobs -s` prints it):
# chat prompts differ by up to 0.28 nats between llama.cpp (Q4_1 kernels) and transformers (the
# same weights de-quantized to fp32); raw texts by up to 0.63, since llama.cpp needs the BOS text
# in front to score a prompt right and transformers reads SmolLM2's raw text without one, as
# its tokenizer does by default.
SKY = [{"role": "user", "content": "Is the sky blue? Answer Yes or No."}]
FITS = [
    {
        "role": "user",
        "content": "Description: the text is polite.\n\nText 1: Go away.\n\n"
        "Text 2: Thank you kindly!\n\nWhich text fits the description better? Answer with 1 or 2.",
    }
]
REVIEW = "Terrible food, rude staff.\nIs this review positive?"
OPTION_CHATS = [CAPITAL, CAPITAL, SKY, SKY, FITS, FITS]
OPTION_PROMPTS: list[Prompt] = [*OPTION_CHATS]
OPTION_PROMPTS += ["The capital of France is"] * 2 + [REVIEW] * 2
OPTIONS = ["Paris", "Berlin", "Yes", "No", "1", "2", " Paris", " Berlin", " Yes", " No"]
CHAT_TOL, RAW_TOL = 0.5, 1.0


def test_option_logprobs_agree_across_backends(server_url):
    """Every backend's option_logprobs on the same model and prompts: the judge's kernel."""
    from driftlab.models.hf import HFModel
    from driftlab.models.judging import TwoChoice, judge

    local = HFModel.load("smollm2-135m-instruct", device="cpu")
    served = client(server_url, template="smollm2-135m-instruct")
    expected = local.option_logprobs(OPTION_PROMPTS, OPTIONS)
    assert expected[:6] == pytest.approx(local.logprobs(OPTION_CHATS, OPTIONS[:6]), abs=1e-4)
    got = served.option_logprobs(OPTION_PROMPTS, OPTIONS)
    gaps = [abs(g - e) for g, e in zip(got, expected)]
    chat, raw = max(gaps[:6]), max(gaps[6:])
    print(f"llama.cpp vs transformers option log-probs: chat {chat:.3f}, raw {raw:.3f} nats")
    assert chat < CHAT_TOL and raw < RAW_TOL, (got, expected)
    # a clear preference reads the same through both: Paris over Berlin, asked both ways
    germany = [{"role": "user", "content": "What is the capital of Germany?"}]
    q = [TwoChoice(CAPITAL, germany)]
    [a], [b] = judge(local, q, ("Paris", "Berlin")), judge(served, q, ("Paris", "Berlin"))
    assert a.p_first > 0.9 and b.p_first > 0.9 and abs(a.p_first - b.p_first) < 0.05
    with FaultProxy(server_url, always="http404") as proxy:  # a chat-only server: one clear error
        from driftlab.models.judging import check_judge

        with pytest.raises(DriftlabError, match="does not give prompt log-probabilities"):
            check_judge(client(proxy.url, template="smollm2-135m-instruct"))
