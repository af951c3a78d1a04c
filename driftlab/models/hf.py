"""The transformers backend: batched sampling, log-probabilities, per-round LoRA adapters.

CPU always runs fp32: bf16 matmul on these CPUs is ~600x slower than fp32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
from transformers.utils import logging as hf_logging

from driftlab import progress
from driftlab.errors import DriftlabError
from driftlab.models.base import Chat, Completion, Prompt, SamplingParams
from driftlab.models.builtin import resolve
from driftlab.models.hf_decode import sample, sequence_seeds
from driftlab.models.hf_padded import by_length, tail_logits
from driftlab.models.memory import release

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()  # ours say what is being loaded or sampled

# Used when a tokenizer ships no chat template (base models).
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32  # CPU: always fp32


class HFModel:
    """A causal LM from transformers, optionally with a stack of LoRA adapters merged in order."""

    decoder = "loop"  # "loop": hf_decode.sample_group; "generate": model.generate (the old path)
    score_tokens = 1024  # padded tokens per scoring batch: bounds the logits (0.2 GB at 49k vocab)

    def __init__(self, model, tokenizer, name: str, batch_size: int = 32) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        source: str,
        adapters: Sequence[str | Path] = (),
        device: str = "auto",
        batch_size: int = 32,
        tokenizer: str | None = None,
    ) -> HFModel:
        """`tokenizer`: where to load it from when `source` has none (a trainer's checkpoint)."""
        path = resolve(source)
        dev = pick_device(device)
        try:
            tok = AutoTokenizer.from_pretrained(resolve(tokenizer) if tokenizer else path)
            # a Module to mypy: transformers wraps PreTrainedModel.to in a way mypy misreads
            model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(
                path, dtype=pick_dtype(dev)
            )
        except OSError as e:
            raise DriftlabError(f"cannot load model {source!r}: {e}") from None
        model.to(dev).eval()
        self = cls(model, prepare_tokenizer(tok), source, batch_size)
        for adapter in adapters:
            self.merge_adapter(adapter)
        return self

    def merge_adapter(self, adapter: str | Path) -> None:
        """Stack one round's LoRA adapter onto the current weights (merge, drop the LoRA layers)."""
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(self.model, str(adapter))
        self.model = peft_model.merge_and_unload().eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- prompts ---------------------------------------------------------------------------
    def render(self, chat: Chat, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    # ---- sampling --------------------------------------------------------------------------
    def generate(
        self, chats: list[Chat], params: SamplingParams, desc: str = "sampling"
    ) -> list[list[Completion]]:
        """n completions per chat, in input order; prompts of similar length share a batch."""
        if self.decoder == "generate":
            return self._generate_legacy(chats, params, desc)
        if not chats:
            return []
        tok = self.tokenizer
        prompts = [self.render(c) for c in chats]
        ids = tok(prompts, add_special_tokens=False)["input_ids"]
        seeds = sequence_seeds(prompts, params.n, params.seed)
        stop_ids = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        stopped = None
        if params.stop:

            def stopped(gen: list[int]) -> bool:
                text = tok.decode(gen, skip_special_tokens=True)
                return any(s in text for s in params.stop)

        with progress.task(desc, total=len(prompts) * params.n, unit="samples") as advance:
            rows = sample(
                self.model,
                ids,
                params.n,
                seeds,
                batch_rows=max(self.batch_size, params.n),
                pad_id=tok.pad_token_id,
                stop_ids=stop_ids,
                max_new_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                stopped=stopped,
                advance=advance,
            )
        release()  # the batch's KV buffers, before the next phase allocates
        done = [self._completion(r.ids, r.finish, params.stop) for r in rows]
        return [done[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _completion(self, ids: list[int], finish: str, stop: tuple[str, ...]) -> Completion:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for s in stop:
            if s in text:
                text, finish = text[: text.index(s)], "stop"
        return Completion(text.strip(), len(ids), finish)

    def _generate_legacy(
        self, chats: list[Chat], params: SamplingParams, desc: str
    ) -> list[list[Completion]]:
        """The sampler before issue 18, through `model.generate`: kept for benchmarks/throughput.py
        and as the reference the new sampler is tested against (one seed per batch)."""
        prompts = [self.render(c) for c in chats]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        per_batch = max(1, self.batch_size // params.n)
        out: list[list[Completion]] = [[] for _ in prompts]
        gen_cfg = self._generation_config(params)
        with progress.task(desc, total=len(prompts) * params.n, unit="samples") as advance:
            for b, start in enumerate(range(0, len(order), per_batch)):
                idx = order[start : start + per_batch]
                torch.manual_seed(params.seed * 100_003 + b)
                texts = self._generate_batch([prompts[i] for i in idx], gen_cfg, params)
                for j, i in enumerate(idx):
                    out[i] = texts[j * params.n : (j + 1) * params.n]
                advance(len(idx) * params.n)
        return out

    def _generation_config(self, params: SamplingParams) -> GenerationConfig:
        greedy = params.temperature == 0
        return GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else params.temperature,
            top_p=None if greedy else params.top_p,
            top_k=0,  # None would mean transformers' default of 50; SamplingParams has no top-k
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            stop_strings=list(params.stop) or None,
        )

    @torch.inference_mode()
    def _generate_batch(
        self, prompts: list[str], cfg: GenerationConfig, params: SamplingParams
    ) -> list[Completion]:
        tok = self.tokenizer
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        kwargs = {"tokenizer": tok} if params.stop else {}
        seqs = self.model.generate(**enc, generation_config=cfg, **kwargs)
        new = seqs[:, enc["input_ids"].shape[1] :]
        completions = []
        for row in new:
            ids = row.tolist()
            n_tok, finish = len(ids), "length"
            for k, t in enumerate(ids):
                if t == tok.eos_token_id or t == tok.pad_token_id:
                    n_tok, finish = k, "stop"
                    break
            completions.append(self._completion(ids[:n_tok], finish, params.stop))
        return completions

    # ---- scoring ---------------------------------------------------------------------------
    def logprobs(self, chats: list[Chat], completions: list[str]) -> list[float]:
        """Sum log p(completion | rendered chat) per pair, in nats."""
        prompts = [self.render(c) for c in chats]
        rows = []
        for p, c in zip(prompts, completions, strict=True):
            p_ids = self.tokenizer(p, add_special_tokens=False)["input_ids"]
            c_ids = self.tokenizer(c, add_special_tokens=False)["input_ids"]
            rows.append((p_ids + c_ids, len(p_ids)))
        return [s for s, _ in self._score(rows, "scoring")]

    def option_logprobs(
        self, prompts: list[Prompt], options: list[str], desc: str = "judging"
    ) -> list[float]:
        """Sum log p(option | prompt) per pair: short options share passes (hf_options.py)."""
        from driftlab.models import hf_options

        return hf_options.option_logprobs(self, prompts, options, desc)

    def text_logprobs(self, texts: list[str]) -> list[tuple[float, int]]:
        """(sum log p, tokens scored) of raw texts; the first token is context only."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        rows = []
        for t in texts:
            ids = bos + self.tokenizer(t, add_special_tokens=False)["input_ids"]
            rows.append((ids, 1))
        return self._score(rows, "perplexity")

    @torch.inference_mode()
    def _score(self, rows: list[tuple[list[int], int]], desc: str) -> list[tuple[float, int]]:
        """Each row is (token ids, index of the first scored token).

        Batches are capped by tokens as well as rows, and only the columns some row scores get
        logits (hf_padded.tail_logits): a judge's one-token answer after a long prompt needs one
        column, not the prompt's [rows, length, 49k vocab]. Each position keeps only its
        target's log-probability (gather minus logsumexp).
        """
        pad = self.tokenizer.pad_token_id
        out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
        lengths = [len(r) for r, _ in rows]
        with progress.task(desc, total=len(rows), unit="texts") as advance:
            for idx in by_length(lengths, self.batch_size, self.score_tokens):
                width = lengths[idx[-1]]  # rows ascend in length: a batch is as wide as its last
                keep = min(width, max(lengths[i] - rows[i][1] for i in idx) + 1)  # + the last
                ids, logits = tail_logits(self.model, [rows[i][0] for i in idx], pad, keep)
                target = logits.gather(-1, ids[:, width - keep + 1 :, None].to(self.device))[..., 0]
                tok_lp = (target - logits.logsumexp(-1)).cpu()
                del logits
                for j, i in enumerate(idx):
                    lp = tok_lp[j, keep - 1 - (lengths[i] - rows[i][1]) :]
                    out[i] = (float(lp.sum()), int(lp.numel()))
                advance(len(idx))
        release()
        return out


def prepare_tokenizer(tok):
    """Give a tokenizer what sampling needs: a pad token, and a chat template for base models."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        tok.chat_template = FALLBACK_TEMPLATE
    return tok


def default_threads() -> None:
    """Use every core for intra-op work unless the user chose otherwise."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(os.cpu_count() or 1)
