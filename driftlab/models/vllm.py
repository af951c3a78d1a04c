"""Offline batched sampling through vLLM's `LLM` class, inside driftlab's own process.

Spec: ``vllm:MODEL[?tensor_parallel_size=2&gpu_memory_utilization=0.8&...]``; MODEL is a hub
id, a local folder or a built-in name. vLLM is imported only here, when this backend is
chosen: importing driftlab never imports it. vLLM schedules the whole batch itself
(continuous batching), so every chat goes in one call; each chat carries its own seed, so
sample k of chat i does not depend on which other chats share the batch.

vLLM must then be importable beside driftlab, which driftlab's pins exclude (vLLM pins an
older transformers): this backend is for an environment a user assembles by hand. The tested
route is the policy sampler `[model] sampler = "vllm"` (models/policy.py), a vLLM server in its
own environment reached through the `openai` backend. Here only the mapping of settings and
outputs is unit-tested, against a stand-in for vLLM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qsl

from driftlab.errors import DriftlabError
from driftlab.models.base import Chat, Completion, Prompt, SamplingParams

SEED_STRIDE = 100_003


@dataclass
class VLLMConfig:
    """Engine settings passed to `vllm.LLM`; names and meanings are vLLM's own."""

    model: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    dtype: str = "auto"
    seed: int = 0
    enable_prefix_caching: bool = True  # n samples of one prompt share its KV cache
    lora: str | None = None  # one LoRA adapter folder applied to every request

    def __post_init__(self) -> None:
        if not self.model:
            raise DriftlabError(
                "vllm backend: no model (spec is vllm:MODEL?tensor_parallel_size=N)"
            )
        if self.tensor_parallel_size < 1 or self.pipeline_parallel_size < 1:
            raise DriftlabError(
                "vllm backend: tensor_parallel_size and pipeline_parallel_size must be >= 1"
            )
        if not 0 < self.gpu_memory_utilization <= 1:
            raise DriftlabError("vllm backend: gpu_memory_utilization must be in (0, 1]")

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> VLLMConfig:
        model, _, query = spec.partition("?")
        types = {f.name: str(f.type) for f in fields(cls) if f.name != "model"}
        settings = {}
        for key, value in [*parse_qsl(query, keep_blank_values=True), *options.items()]:
            if key not in types:
                raise DriftlabError(
                    f"vllm backend: unknown setting {key!r}; allowed: {', '.join(sorted(types))}"
                )
            settings[key] = _coerce(key, value, types[key])
        return cls(model=model, **settings)

    def engine_args(self) -> dict[str, Any]:
        """Keyword arguments for `vllm.LLM(...)`."""
        args = {k: v for k, v in asdict(self).items() if k != "lora" and v is not None}
        if self.lora:
            args["enable_lora"] = True
        return args


def _coerce(key: str, value: Any, type_name: str) -> Any:
    if not isinstance(value, str) or type_name.startswith("str"):
        return value
    try:
        if type_name == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return int(value) if type_name.startswith("int") else float(value)
    except ValueError:
        raise DriftlabError(f"vllm backend: {key}={value!r} is not a {type_name}") from None


def sampling_kwargs(params: SamplingParams, chat_index: int) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams` for one chat (its own seed)."""
    return {
        "n": params.n,
        "temperature": params.temperature,  # vLLM reads 0 as greedy, as driftlab does
        "top_p": params.top_p,
        "max_tokens": params.max_new_tokens,
        "stop": list(params.stop) or None,
        "seed": (params.seed * SEED_STRIDE + chat_index) % (2**31),
    }


def to_completions(request_output: Any) -> list[Completion]:
    """A vLLM RequestOutput as Completions, by sample index."""
    outs = sorted(request_output.outputs, key=lambda o: o.index)
    return [
        Completion(
            o.text.strip(), len(o.token_ids), "length" if o.finish_reason == "length" else "stop"
        )
        for o in outs
    ]


def prompt_logprob_sum(request_output: Any, first: int) -> tuple[float, int]:
    """Sum and count of the prompt tokens' log-probs from position `first` on (0 has none)."""
    ids, lps = request_output.prompt_token_ids, request_output.prompt_logprobs
    total, count = 0.0, 0
    for pos in range(max(first, 1), len(ids)):
        total += lps[pos][ids[pos]].logprob
        count += 1
    return total, count


class VLLMModel:
    """A Generator over one `vllm.LLM` engine (tensor parallel over `tensor_parallel_size` GPUs)."""

    def __init__(self, config: VLLMConfig) -> None:
        try:
            import vllm
        except ImportError:
            raise DriftlabError(
                "the vllm: backend runs vLLM inside driftlab's process, and vLLM is not importable "
                'here (its pins exclude driftlab\'s); use `[model] sampler = "vllm"`, or an '
                "openai: spec against a vLLM server in its own environment (make vllm-env)"
            ) from None
        from driftlab.models.builtin import BUILTIN_MODELS, resolve

        self.cfg = config
        self.name = f"vllm:{config.model}"
        self._vllm = vllm
        path = resolve(config.model) if config.model in BUILTIN_MODELS else config.model
        self.llm = vllm.LLM(**{**config.engine_args(), "model": path})
        self._lora = None
        if config.lora:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("driftlab", 1, config.lora)

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> VLLMModel:
        return cls(VLLMConfig.from_spec(spec, **options))

    def generate(
        self, chats: list[Chat], params: SamplingParams, desc: str = "sampling"
    ) -> list[list[Completion]]:
        sps = [self._vllm.SamplingParams(**sampling_kwargs(params, i)) for i in range(len(chats))]
        outs = self.llm.chat(chats, sps, use_tqdm=True, lora_request=self._lora)
        return [to_completions(o) for o in outs]

    def logprobs(self, chats: list[Chat], completions: list[str]) -> list[float]:
        """Sum log p(completion | chat): the chat in the model's template, then the completion."""
        return self.option_logprobs(list(chats), completions)

    def option_logprobs(
        self, prompts: list[Prompt], options: list[str], desc: str = "judging"
    ) -> list[float]:
        """Sum log p(option | prompt) from vLLM's prompt log-probs of prompt + option; a raw
        text is tokenized as the tokenizer does by default, a chat by its template."""
        tok = self.llm.get_tokenizer()
        rows = []
        for prompt, option in zip(prompts, options, strict=True):
            if isinstance(prompt, str):
                p_ids = tok.encode(prompt, add_special_tokens=True)
            else:
                text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
                p_ids = tok.encode(text, add_special_tokens=False)
            rows.append((p_ids + tok.encode(option, add_special_tokens=False), len(p_ids)))
        return [s for s, _ in self._score(rows)]

    def text_logprobs(self, texts: list[str]) -> list[tuple[float, int]]:
        tok = self.llm.get_tokenizer()
        bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
        return self._score([(bos + tok.encode(t, add_special_tokens=False), 1) for t in texts])

    def _score(self, rows: list[tuple[list[int], int]]) -> list[tuple[float, int]]:
        # prompt_logprobs=0 still returns each prompt token's own log-prob
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=0)
        prompts = [{"prompt_token_ids": ids} for ids, _ in rows]
        outs = self.llm.generate(prompts, sp, use_tqdm=True, lora_request=self._lora)
        return [prompt_logprob_sum(o, first) for o, (_, first) in zip(outs, rows)]
