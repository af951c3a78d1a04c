"""Any OpenAI-compatible server (vLLM, llama.cpp, TGI, hosted APIs) as a Generator.

Spec: ``openai:MODEL@BASE_URL`` or ``openai:MODEL`` with the base URL from $OPENAI_BASE_URL;
settings may follow as a query, e.g. ``openai:m@http://127.0.0.1:8080/v1?concurrency=2``.
Several servers of the same model, ``openai:MODEL@URL1,URL2``, share the requests; one that
fails is skipped for a while and its requests are retried on the others (servers.py).
The API key is read from the environment: the variable `api_key_env=` names is sent to any
base URL (the user chose it for this server); $OPENAI_API_KEY, the default, is sent only to
https:// URLs, never in clear text to a plain-http server the user may not mean to trust.
Local servers need none.

Sample k of chat i always asks for the same seed, so a retried request gets the same answer
from a server that is deterministic per seed (llama.cpp's is not quite: its answer also
depends on what its KV cache held). Servers that ignore `n` (llama.cpp)
return one choice per request; the missing samples are then asked for one by one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from threading import Event
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

from driftlab import progress
from driftlab.errors import DriftlabError
from driftlab.models.base import Chat, Completion, Prompt, SamplingParams
from driftlab.models.http import JSONClient, RequestRefused, RetryPolicy

SEED_STRIDE = 100_003  # seed of chat i = seed * SEED_STRIDE + i * n + k, kept in 31 bits


@dataclass
class OpenAIConfig:
    """Where the server is and how hard to push it. Every field can be set in the spec's query."""

    model: str
    base_url: str
    endpoint: Literal["chat", "completions"] = "chat"  # completions renders chats with `template`
    template: str | None = None  # model whose tokenizer's chat template renders chats as text
    api_key_env: str | None = None  # None: $OPENAI_API_KEY, to https:// base URLs only
    timeout: float = 120.0  # seconds for one whole attempt
    max_retries: int = 5
    backoff: float = 0.5  # first retry waits 0.25-0.5 s, doubling up to max_backoff
    max_backoff: float = 30.0
    concurrency: int = 4  # requests in flight
    requests_per_second: float | None = None
    log_path: str | None = None  # JSONL record of every request, failure and retry
    extra: dict[str, Any] = field(default_factory=dict)  # passed through in every request body

    def __post_init__(self) -> None:
        if not self.model:
            raise DriftlabError("openai backend: no model name (spec is openai:MODEL@BASE_URL)")
        for base in self.base_url.split(","):  # several servers of one model: URL1,URL2,...
            try:
                url = urlsplit(base.strip())
                url.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError:
                url = None
            if url is None or url.scheme not in ("http", "https") or not url.hostname:
                raise DriftlabError(
                    f"openai backend: base URL {base!r} is not http(s)://HOST[:PORT]/..."
                )
        if self.endpoint not in ("chat", "completions"):
            raise DriftlabError(
                f"openai backend: endpoint must be chat or completions, not {self.endpoint!r}"
            )
        for name in ("timeout", "backoff", "max_backoff"):
            if getattr(self, name) <= 0:
                raise DriftlabError(f"openai backend: {name} must be > 0")
        if self.max_retries < 0 or self.concurrency < 1:
            raise DriftlabError("openai backend: max_retries must be >= 0 and concurrency >= 1")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise DriftlabError("openai backend: requests_per_second must be > 0")
        if self.endpoint == "completions" and not self.template:
            raise DriftlabError(
                "openai backend: the completions endpoint needs `template` "
                "(a model whose chat template renders chats as text)"
            )

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> OpenAIConfig:
        """Parse ``MODEL[@BASE_URL][?key=value&...]``; keyword options override the query."""
        spec, _, query = spec.partition("?")
        model, _, url = spec.partition("@")  # MODEL@URL: a URL may hold user@host, a model no '@'
        url = url or os.environ.get("OPENAI_BASE_URL", "")
        if not url:
            raise DriftlabError(
                f"openai:{spec}: no base URL; write openai:MODEL@http://HOST:PORT/v1 "
                "or set OPENAI_BASE_URL"
            )
        types = {f.name: str(f.type) for f in fields(cls)}
        settings: dict[str, Any] = {}
        for key, value in [*parse_qsl(query, keep_blank_values=True), *options.items()]:
            if key not in types or key in ("model", "base_url", "extra"):
                allowed = sorted(set(types) - {"model", "base_url", "extra"})
                raise DriftlabError(
                    f"openai backend: unknown setting {key!r}; allowed: {', '.join(allowed)}"
                )
            settings[key] = _coerce(key, value, types[key])
        return cls(model=model, base_url=url, **settings)


def api_key(config: OpenAIConfig) -> str | None:
    """The key to send to `config.base_url`, if any (see the module docstring for the rule)."""
    if config.api_key_env is not None:
        key = os.environ.get(config.api_key_env)
        if key is None:
            raise DriftlabError(
                f"openai backend: environment variable {config.api_key_env} is not set"
            )
        return key
    if any(urlsplit(u.strip()).scheme != "https" for u in config.base_url.split(",")):
        return None  # plain http: the default key stays home unless api_key_env= names it
    return os.environ.get("OPENAI_API_KEY")


def _coerce(key: str, value: Any, type_name: str) -> Any:
    if not isinstance(value, str) or type_name.startswith("str") or "Literal" in type_name:
        return value
    try:
        return int(value) if type_name == "int" else float(value)
    except ValueError:
        raise DriftlabError(f"openai backend: {key}={value!r} is not a number") from None


class OpenAIModel:
    """Chats in, completions out, through an OpenAI-compatible HTTP API."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.cfg = config
        self.name = f"openai:{config.model}@{config.base_url}"
        key = api_key(config)
        self.http = JSONClient(
            config.base_url,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=config.timeout,
            retry=RetryPolicy(config.max_retries, config.backoff, config.max_backoff),
            requests_per_second=config.requests_per_second,
            max_connections=config.concurrency,
            log_path=config.log_path,
        )
        self.server_n: bool | None = None  # does the server honour n? learnt from its first reply
        self.server_logprobs: bool | None = None  # does it score echoed prompts? learnt likewise
        self._tokenizer: Any = None

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> OpenAIModel:
        return cls(OpenAIConfig.from_spec(spec, **options))

    @property
    def stats(self) -> dict[str, int]:
        """Requests, oks, failures (by kind), retries and give-ups so far."""
        return dict(self.http.stats)

    def close(self) -> None:
        self.http.close()

    # ---- sampling --------------------------------------------------------------------------
    def generate(
        self, chats: list[Chat], params: SamplingParams, desc: str = "sampling"
    ) -> list[list[Completion]]:
        """params.n completions per chat, in input order, or one DriftlabError."""
        n = params.n
        out: list[list[Completion | None]] = [[None] * n for _ in chats]
        prompts = [self.render(c) for c in chats] if self.cfg.endpoint == "completions" else chats
        # (chat, first sample index, samples asked): all n at once unless the server ignores n
        jobs = (
            [(i, 0, n) for i in range(len(chats))]
            if self.server_n is not False or n == 1
            else [(i, k, 1) for i in range(len(chats)) for k in range(n)]
        )
        with progress.task(desc, total=len(chats) * n, unit="samples") as advance:

            def run(job: tuple[int, int, int]) -> None:
                i, k, m = job
                got = self._sample(prompts[i], params, m, seed=_seed(params.seed, i, n, k))
                if m > 1 and self.server_n is None:
                    self.server_n = len(got) == m
                for j, c in enumerate(got[:m]):
                    out[i][k + j] = c
                advance(min(m, len(got)))

            self._map(run, jobs)
            # a server that ignores n answered once per request: ask for the rest one by one
            missing = [
                (i, k, 1) for i, row in enumerate(out) for k, c in enumerate(row) if c is None
            ]
            if missing:
                self.http.record("refill", count=len(missing))
                self._map(run, missing)
        return cast(list[list[Completion]], out)  # complete: every job filled its slots, or raised

    def _sample(
        self, prompt: Chat | str, params: SamplingParams, m: int, seed: int
    ) -> list[Completion]:
        """One request for m samples (a rendered prompt for the completions endpoint)."""
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": m,
            "seed": seed,
            **self.cfg.extra,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if self.cfg.endpoint == "chat":
            body["messages"] = prompt
            return self.http.post(
                "chat/completions", body, lambda d: _completions(d, params, m), tag="chat"
            )
        body["prompt"] = prompt
        return self.http.post(
            "completions", body, lambda d: _completions(d, params, m), tag="completions"
        )

    def _map(self, fn: Callable[[Any], None], jobs: list) -> None:
        """Run jobs `concurrency` at a time; on the first failure start no more, finish what is in
        flight (so its records are complete), then raise one DriftlabError."""
        stop, errors = Event(), []

        def guarded(job: Any) -> None:
            if stop.is_set():
                return
            try:
                fn(job)
            except DriftlabError as e:
                errors.append(e)
                stop.set()

        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            list(pool.map(guarded, jobs))
        if errors:
            raise DriftlabError(
                f"{self.name}: {len(errors)} of {len(jobs)} requests failed: {errors[0]}"
            )

    # ---- scoring (completions endpoint with echo + logprobs) -------------------------------
    # A score is a difference of two echoed prompts, S(prefix + text) - S(prefix): servers
    # disagree on what their character offsets count (llama-cpp-python leaves special tokens
    # out), but every one of them scores a prompt it echoes. llama-cpp-python also scores a
    # prompt one position off unless it starts with BOS, so raw texts get the BOS text of
    # `template`'s tokenizer in front, as the transformers backend does with the BOS id.
    def render(self, chat: Chat, add_generation_prompt: bool = True) -> str:
        """The chat as `template`'s tokenizer renders it, as the transformers backend does."""
        return self._template().apply_chat_template(
            chat, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def _template(self):
        if self._tokenizer is None:
            if not self.cfg.template:
                raise DriftlabError(
                    f"{self.name}: this needs `template` (a model whose tokenizer renders "
                    "chats as text, e.g. template=smollm2-135m-instruct)"
                )
            from transformers import AutoTokenizer

            from driftlab.models.builtin import resolve

            self._tokenizer = AutoTokenizer.from_pretrained(resolve(self.cfg.template))
        return self._tokenizer

    def text_prefix(self) -> str:
        """The model's BOS text when its tokenizer does not add BOS itself (so the server won't)."""
        if not self.cfg.template:
            return ""
        tok = self._template()
        if tok.bos_token is None or tok("x")["input_ids"][:1] == [tok.bos_token_id]:
            return ""
        return tok.bos_token

    def logprobs(self, chats: list[Chat], completions: list[str]) -> list[float]:
        """Sum log p(completion | rendered chat) per pair, in nats."""
        if len(chats) != len(completions):
            raise DriftlabError("logprobs: chats and completions differ in length")
        prompts = [self.render(c) for c in chats]
        return [s for s, _ in self._differences(list(zip(prompts, completions)), "scoring")]

    def option_logprobs(
        self, prompts: list[Prompt], options: list[str], desc: str = "judging"
    ) -> list[float]:
        """Sum log p(option | prompt) per pair from the completions endpoint's echoed log-probs:
        a chat rendered with `template`, a raw text after the BOS text (as `text_logprobs`).
        Each prompt is scored once however many options it has."""
        if len(prompts) != len(options):
            raise DriftlabError("option_logprobs: prompts and options differ in length")
        if not prompts:
            return []
        prefix = self.text_prefix() if any(isinstance(p, str) for p in prompts) else ""
        texts = [prefix + p if isinstance(p, str) else self.render(p) for p in prompts]
        return [s for s, _ in self._differences(list(zip(texts, options)), desc)]

    def text_logprobs(self, texts: list[str]) -> list[tuple[float, int]]:
        """(sum log p, tokens scored) of raw texts; the first token is context only."""
        prefix = self.text_prefix()
        return self._differences([(prefix, t) for t in texts], "perplexity")

    def _differences(self, pairs: list[tuple[str, str]], desc: str) -> list[tuple[float, int]]:
        """S(context + text) - S(context) per pair, each distinct string scored once."""
        strings = sorted({s for c, t in pairs for s in (c, c + t) if s})
        scores: dict[str, tuple[float, int]] = {"": (0.0, 0)}
        with progress.task(desc, total=len(strings), unit="texts") as advance:

            def run(s: str) -> None:
                scores[s] = self._echo_score(s)
                advance(1)

            self._map(run, strings)
        return [
            (scores[c + t][0] - scores[c][0], scores[c + t][1] - scores[c][1]) for c, t in pairs
        ]

    def _echo_score(self, text: str) -> tuple[float, int]:
        """(sum, count) of the log-probs the server gives the tokens of `text` as a prompt."""
        if self.server_logprobs is False:
            raise self._no_logprobs()
        # max_tokens=1: llama.cpp reads 0 as "no limit"; the generated token is dropped below
        body = {
            "model": self.cfg.model,
            "prompt": text,
            "max_tokens": 1,
            "temperature": 0,
            "echo": True,
            "logprobs": 1,
            **self.cfg.extra,
        }
        try:
            values = self.http.post(
                "completions", body, lambda d: _prompt_logprobs(d, text), tag="logprobs"
            )
        except RequestRefused:
            if self.server_logprobs is None:  # refused before it ever worked: the server cannot
                self.server_logprobs = False
                raise self._no_logprobs() from None
            raise
        if values is None:
            self.server_logprobs = False
            raise self._no_logprobs()
        self.server_logprobs = True
        return float(sum(values)), len(values)

    def _no_logprobs(self) -> DriftlabError:
        return DriftlabError(
            f"{self.name}: the server does not give prompt log-probabilities (completions endpoint "
            "with echo=true and logprobs); use a backend that does (llama.cpp, vLLM, transformers) "
            "for judges scored by log-probability and for the reference_ppl monitor"
        )


def _seed(seed: int, chat: int, n: int, k: int) -> int:
    return (seed * SEED_STRIDE + chat * n + k) % (2**31)


def _completions(data: dict, params: SamplingParams, m: int) -> list[Completion]:
    """The reply's choices as Completions, by index. Raises on a malformed reply (retried)."""
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
    if not choices:
        raise ValueError("no choices")
    usage = (data.get("usage") or {}).get("completion_tokens")
    out = []
    for c in choices:
        text = c["message"]["content"] if "message" in c else c["text"]
        text = text or ""
        for s in params.stop:  # servers cut at stop strings; some leave them in
            if s in text:
                text = text[: text.index(s)]
        # usage counts all choices together; split it where there is more than one
        tokens = round(usage / len(choices)) if isinstance(usage, int) else len(text.split())
        finish = "length" if c.get("finish_reason") == "length" else "stop"
        out.append(Completion(text.strip(), tokens, finish))
    return out


def _prompt_logprobs(data: dict, text: str) -> list[float] | None:
    """The echoed prompt's token log-probs (the first, which has no context, left out), or None
    when the server gave none. The generated tokens at the end are dropped by count."""
    choice = data["choices"][0]
    lp = choice.get("logprobs")
    if not lp or "token_logprobs" not in lp or not str(choice.get("text", "")).startswith(text):
        return None  # no log-probs, or the prompt was not echoed: only the new tokens were scored
    values = list(lp["token_logprobs"])
    generated = (data.get("usage") or {}).get("completion_tokens")
    if not isinstance(generated, int):  # no usage: go by where the echoed text ends
        offsets = lp["text_offset"]
        generated = sum(1 for o in offsets if o >= len(text))
    if generated > len(values):
        raise ValueError("fewer log-probs than generated tokens")
    return [float(v) for v in values[: len(values) - generated] if v is not None]
