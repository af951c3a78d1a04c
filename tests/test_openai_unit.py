"""The openai backend's parts that need no server: spec parsing, backoff, rate limit, lazy import"""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from driftlab.errors import DriftlabError
from driftlab.models import BACKENDS, load_generator
from driftlab.models.base import SamplingParams
from driftlab.models.http import RateLimiter, RetryPolicy
from driftlab.models.openai import OpenAIConfig, OpenAIModel, _completions, api_key


def test_spec_with_url_and_query():
    cfg = OpenAIConfig.from_spec(
        "smollm2@http://127.0.0.1:8080/v1?concurrency=3&timeout=2.5&endpoint=chat"
    )
    assert (cfg.model, cfg.base_url, cfg.concurrency, cfg.timeout) == (
        "smollm2",
        "http://127.0.0.1:8080/v1",
        3,
        2.5,
    )


def test_spec_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://example.invalid/v1")
    model = load_generator("openai:gpt-x", max_retries=1)
    assert isinstance(model, OpenAIModel)
    assert model.cfg.base_url == "https://example.invalid/v1" and model.cfg.max_retries == 1
    model.close()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("m", "no base URL"),
        ("@http://h/v1", "no model name"),
        ("m@http://h/v1?concurency=2", "unknown setting 'concurency'"),
        ("m@http://h/v1?timeout=soon", "is not a number"),
        ("m@http://h/v1?concurrency=0", "concurrency >= 1"),
        ("m@http://h/v1?endpoint=completions", "needs `template`"),
        ("m@http://h/v1?endpoint=embeddings", "endpoint must be chat or completions"),
    ],
)
def test_bad_specs_are_one_clear_error(monkeypatch, spec, message):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(DriftlabError, match=message):
        OpenAIConfig.from_spec(spec)


def test_named_key_variable_must_exist(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(DriftlabError, match="MY_KEY is not set"):
        OpenAIModel.from_spec("m@http://127.0.0.1:9/v1", api_key_env="MY_KEY")


@pytest.mark.parametrize(
    "url, named, sent",
    [
        ("https://api.example/v1", False, "sk-default"),  # the default key goes to https
        ("http://127.0.0.1:9/v1", False, None),  # never in clear text unless asked for
        ("http://gpu-box.lan:8000/v1", False, None),
        (
            "http://gpu-box.lan:8000/v1",
            True,
            "sk-mine",
        ),  # the user named a variable for this server
    ],
)
def test_the_api_key_goes_only_where_the_user_said(monkeypatch, url, named, sent):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    monkeypatch.setenv("MY_KEY", "sk-mine")
    options = {"api_key_env": "MY_KEY"} if named else {}
    assert api_key(OpenAIConfig.from_spec(f"m@{url}", **options)) == sent


def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy, rng = RetryPolicy(max_retries=5, backoff=0.5, max_backoff=4.0), random.Random(0)
    delays = [policy.delay(k, rng) for k in range(6)]
    for k, d in enumerate(delays):
        cap = min(4.0, 0.5 * 2**k)
        assert cap / 2 <= d <= cap
    assert policy.delay(0, rng, retry_after=3.0) >= 3.0
    assert policy.delay(0, rng, retry_after=100.0) <= 4.0  # never beyond the cap


def test_rate_limiter_spaces_request_starts():
    limiter = RateLimiter(20.0)
    start = time.monotonic()
    for _ in range(11):
        limiter.wait()
    assert time.monotonic() - start >= 0.45  # 10 intervals of 50 ms


def test_reply_parsing_orders_choices_and_cuts_stop_strings():
    data = {
        "choices": [
            {"index": 1, "text": " b STOP c", "finish_reason": "stop"},
            {"index": 0, "text": " a", "finish_reason": "length"},
        ],
        "usage": {"completion_tokens": 10},
    }
    out = _completions(data, SamplingParams(n=2, stop=("STOP",)), 2)
    assert [(c.text, c.num_tokens, c.finish_reason) for c in out] == [
        ("a", 5, "length"),
        ("b", 5, "stop"),
    ]
    with pytest.raises(ValueError):
        _completions({"choices": []}, SamplingParams(), 1)


def test_backends_are_registered_and_imported_lazily():
    assert {"openai", "vllm"} <= set(BACKENDS.names())
    code = (
        "import sys, driftlab, driftlab.models; "
        "print([m for m in ('vllm', 'driftlab.models.vllm', 'driftlab.models.openai') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
