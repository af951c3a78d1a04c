"""driftlab's decode loop for transformers models, and why it is not `model.generate`.

Measured on 2 CPU cores (benchmarks/throughput.py), `generate` spends its time on work that
sampling many paths per prompt does not need:

- with `num_return_sequences` it prefills each prompt n times; here each prompt is prefilled
  once and its KV cache copied to its n samples;
- a batch decodes until its longest row stops; here finished rows leave the batch and
  waiting prompts enter it (continuous batching);
- a prefix common to all prompts (few-shot exemplars, a system prompt) is prefilled and
  stored once (models/kv_cache.py), not once per row;
- `DynamicCache` grows by concatenation, copying the whole cache at every step; here each
  layer writes into a buffer (models/kv_cache.py);
- one random stream per batch makes a prompt's samples depend on its batch-mates; here each
  sample draws its uniforms from its own generator, seeded by (seed, prompt text, how many
  identical prompts came before it in the call, sample index), and picks its token by
  inverse-CDF sampling of the same distribution (temperature, then nucleus) that `generate`
  samples from.

Greedy decoding takes the argmax of the same logits, so its output equals `generate`'s up to
float rounding (tests/test_hf_sampling.py checks it on a tiny model, tests/test_hf_smollm2.py
on SmolLM2). Rounding also differs with batch composition, so a token drawn with its uniform
within ~1e-6 of a CDF boundary could in principle change with the batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import cast

import torch
from transformers.cache_utils import DynamicLayer

from driftlab.models.hf_padded import left_pad
from driftlab.models.kv_cache import (
    BufferLayer,
    SharedPrefix,
    active,
    can_share_prefix,
    new_cache,
)

TOP_P_CANDIDATES = 256  # nucleus looked for among the k likeliest tokens first (full sort if not)
MIN_SHARED_PREFIX = 16  # a shorter common prefix is prefilled with each prompt
COMPACT_SHARE = 8  # finished rows leave once they are 1/8 of the batch (leaving copies the cache)


def sequence_seeds(prompts: Sequence[str], n: int, seed: int) -> list[list[int]]:
    """One 63-bit seed per (prompt, sample): a pure function of the prompt's text, not of its batch.

    Repeats of one prompt text in a call get distinct seeds (by occurrence), so asking for the
    same prompt twice still draws different samples, and the same ones on every run.
    """
    seen: dict[str, int] = {}
    out = []
    for p in prompts:
        k = seen.get(p, 0)
        seen[p] = k + 1
        out.append([_hash63(f"{seed}\x00{k}\x00{j}\x00{p}") for j in range(n)])
    return out


def _hash63(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def uniforms(seeds: Sequence[int], steps: int) -> torch.Tensor:
    """[len(seeds), steps] uniforms in [0, 1), row i drawn from a generator seeded with seeds[i]."""
    gen = torch.Generator()
    rows = []
    for s in seeds:
        gen.manual_seed(s)
        rows.append(torch.rand(steps, generator=gen, dtype=torch.float64))
    return torch.stack(rows) if rows else torch.empty(0, steps, dtype=torch.float64)


def pick_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, u: torch.Tensor | None
) -> torch.Tensor:
    """Next token per row of [rows, vocab] logits: argmax at temperature 0, else one draw per row.

    The draw is inverse-CDF sampling with the row's uniform u: the first token whose cumulative
    probability exceeds u. The nucleus keeps a token while the mass of tokens likelier than it
    is below top_p, as transformers' TopPLogitsWarper does.
    """
    if temperature == 0:
        return logits.argmax(-1)
    if u is None:
        raise ValueError("sampling at temperature > 0 needs one uniform per row")
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1:
        k = min(TOP_P_CANDIDATES, probs.shape[-1])
        vals, idx = probs.topk(k, dim=-1)
        if bool((vals.sum(-1) < top_p).any()):  # some nucleus reaches past the k likeliest
            vals, idx = probs.sort(dim=-1, descending=True, stable=True)
        vals = vals.masked_fill(vals.cumsum(-1) - vals >= top_p, 0)
    else:
        vals, idx = probs, None
    cdf = vals.double().cumsum(-1)
    j = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=cdf.shape[-1] - 1)
    return (j if idx is None else idx.gather(-1, j))[:, 0]


def shared_prefix(prompt_ids: list[list[int]], n: int = 1, least: int = MIN_SHARED_PREFIX) -> int:
    """Tokens every row starts with (leaving each prompt one of its own), 0 if fewer than least.

    One prompt sampled n > 1 times shares all of itself but its last token.
    """
    if not prompt_ids or (len(prompt_ids) < 2 and n < 2):
        return 0
    first, k = prompt_ids[0], min(len(p) for p in prompt_ids) - 1
    for p in prompt_ids[1:]:
        k = next((i for i in range(k) if p[i] != first[i]), k)
    return k if k >= least else 0


@dataclass
class Sampled:
    ids: list[int]  # generated tokens, the stop token excluded
    finish: str  # "stop" (a stop token or stop string) or "length"


@torch.inference_mode()
def sample(
    model,
    prompt_ids: list[list[int]],
    n: int,
    seeds: list[list[int]],
    *,
    batch_rows: int,
    pad_id: int,
    stop_ids: set[int],
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stopped: Callable[[list[int]], bool] | None = None,
    advance: Callable[[int], None] | None = None,
) -> list[Sampled]:
    """n samples of each prompt (prompt-major order), at most `batch_rows` rows decoding at once.

    Prompts enter in order of length. The prompts' longest common prefix (a few-shot preamble,
    a system prompt) is prefilled once and stored once; each prompt's own suffix is prefilled
    once (left-padded, so every row's next token is last) and its cache copied to its n rows.
    Finished rows leave the batch, and waiting prompts enter as soon as half a batch of rows
    is free (continuous batching: their cache is right-aligned onto the running rows').
    """
    dev = next(model.parameters()).device
    buffered = can_share_prefix(new_cache(model, 1))
    shared = shared_prefix(prompt_ids, n) if buffered else 0
    prefix = _prefill_prefix(model, prompt_ids[0][:shared], dev) if shared else None
    pending = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    pending.reverse()  # pop() takes the shortest
    out = [Sampled([], "length") for _ in range(len(prompt_ids) * n)]
    batch: _Batch | None = None
    with SharedPrefix(model) if prefix else nullcontext():
        while True:  # here every row of the batch has its next logits
            live = len(batch.rows) - len(batch.done) if batch else 0
            take = min(len(pending), max(1, (batch_rows - live) // n))
            if pending and (
                batch is None
                or (
                    buffered
                    and take * n <= batch_rows - live
                    and (take == len(pending) or 2 * take * n >= batch_rows)
                )
            ):
                if batch is not None and batch.done:
                    batch.compact(dev)
                idx = [pending.pop() for _ in range(take)]
                new = _admit(
                    model,
                    [prompt_ids[i][shared:] for i in idx],
                    shared,
                    prefix,
                    n,
                    [s for i in idx for s in seeds[i]] if temperature > 0 else None,
                    [i * n + j for i in idx for j in range(n)],
                    pad_id,
                    max_new_tokens,
                    dev,
                )
                batch = new if batch is None else batch.merge(new)
            if batch is None:
                return out
            assert batch.logits is not None  # set by every prefill and step
            tokens = pick_tokens(batch.logits, temperature, top_p, batch.uniforms())
            for b, (r, t) in enumerate(zip(batch.rows, tokens.tolist())):
                if b in batch.done:
                    continue
                if t in stop_ids:
                    out[r].finish = "stop"
                else:
                    out[r].ids.append(t)
                    if stopped is not None and stopped(out[r].ids):
                        out[r].finish = "stop"
                batch.steps[b] += 1
                if out[r].finish == "stop" or batch.steps[b] >= max_new_tokens:
                    batch.done.add(b)
                    if advance is not None:
                        advance(1)
            if len(batch.done) == len(batch.rows):
                batch = None
                continue
            if len(batch.done) * COMPACT_SHARE >= len(batch.rows):
                tokens = tokens[[b for b in range(len(batch.rows)) if b not in batch.done]]
                batch.compact(dev)
            batch.step(model, tokens, dev)


def _prefill_prefix(model, prefix: list[int], dev) -> list[tuple[torch.Tensor, torch.Tensor]]:
    cache = new_cache(model, len(prefix))
    model(
        input_ids=torch.tensor([prefix], device=dev),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    layers = cast(list[DynamicLayer], cache.layers)  # new_cache makes only DynamicLayers
    return [
        (cast(torch.Tensor, x.keys).clone(), cast(torch.Tensor, x.values).clone()) for x in layers
    ]


def _admit(model, suffixes, shared, prefix, n, seeds, rows, pad_id, max_new_tokens, dev):
    """Prefill prompts' own suffixes (after the shared prefix) and copy each to its n rows."""
    width = max(len(s) for s in suffixes)
    cache = new_cache(model, width + max_new_tokens)
    for layer, (k, v) in zip(cache.layers, prefix or ()):
        cast(BufferLayer, layer).attach_prefix(k, v)  # a prefix is shared by buffer layers only
    ids, own = left_pad(suffixes, pad_id)  # own: the mask of each row's own tokens
    pos = (shared + own.cumsum(-1) - 1).masked_fill_(own == 0, 1)
    batch = _Batch(cache, shared, own, pos[:, -1] + 1, rows, max_new_tokens, seeds)
    batch.logits = batch.forward(model, ids, pos, dev)
    if n > 1:
        cache.batch_repeat_interleave(n)
        batch.own, batch.next_pos, batch.logits = (
            t.repeat_interleave(n, dim=0) for t in (batch.own, batch.next_pos, batch.logits)
        )
    return batch


class _Batch:
    """The rows decoding together: cache, own-token mask, next positions, last logits."""

    def __init__(self, cache, shared, own, next_pos, rows, max_new_tokens, seeds) -> None:
        self.cache, self.shared, self.own, self.next_pos = cache, shared, own, next_pos
        self.rows = rows  # output row of each batch row
        self.steps = [0] * len(rows)
        self.done: set[int] = set()  # finished rows still in the batch
        self.u = None if seeds is None else uniforms(seeds, max_new_tokens)
        self.logits: torch.Tensor | None = None

    def forward(self, model, ids, pos, dev) -> torch.Tensor:
        mask = torch.cat([self.own.new_ones(len(self.own), self.shared), self.own], dim=1)
        with active(self.cache):
            return model(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                position_ids=pos.to(dev),
                past_key_values=self.cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1]

    def uniforms(self) -> torch.Tensor | None:
        if self.u is None:
            return None
        steps = torch.tensor(self.steps).clamp_(max=self.u.shape[1] - 1)
        return self.u[torch.arange(len(self.rows)), steps]

    def step(self, model, tokens, dev) -> None:
        self.own = torch.cat([self.own, self.own.new_ones(len(self.own), 1)], dim=1)
        self.logits = self.forward(model, tokens[:, None], self.next_pos[:, None], dev)
        self.next_pos = self.next_pos + 1

    def compact(self, dev) -> None:
        """Drop finished rows, and the leading columns no remaining row attends to."""
        keep = [b for b in range(len(self.rows)) if b not in self.done]
        sel = torch.tensor(keep)
        own = self.own[sel]
        cut = 0
        if isinstance(self.cache.layers[0], BufferLayer):
            cut = int((own.sum(0) > 0).nonzero()[0])
        self.cache.batch_select_indices(sel.to(dev))
        if cut:
            for layer in self.cache.layers:
                layer.drop_front(cut)
        self.own, self.next_pos = own[:, cut:], self.next_pos[sel]
        self.logits = None if self.logits is None else self.logits[sel.to(self.logits.device)]
        self.u = None if self.u is None else self.u[sel]
        self.rows, self.steps = [self.rows[b] for b in keep], [self.steps[b] for b in keep]
        self.done = set()

    def merge(self, other: _Batch) -> _Batch:
        """Append other's rows; the shorter side gets masked zero columns on the left."""
        width = max(self.own.shape[1], other.own.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.merge(theirs)

        def pad(own):
            return torch.cat([own.new_zeros(len(own), width - own.shape[1]), own], dim=1)

        self.own = torch.cat([pad(self.own), pad(other.own)])
        self.next_pos = torch.cat([self.next_pos, other.next_pos])
        assert self.logits is not None and other.logits is not None  # both prefilled
        self.logits = torch.cat([self.logits, other.logits])
        self.u = None if self.u is None or other.u is None else torch.cat([self.u, other.u])
        self.rows, self.steps = self.rows + other.rows, self.steps + other.steps
        return self
