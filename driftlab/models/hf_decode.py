"""driftlab's decode loop for transformers models, and why it is not `model.generate`.

Measured on 2 CPU cores (benchmarks/throughput.py), `generate` spends its time on work that
sampling many paths per prompt does not need:

- with `num_return_sequences` it prefills each prompt n times; here each prompt is prefilled
  once and its KV cache copied to its n samples;
- a batch decodes until its longest row stops; here finished rows leave the batch;
- `DynamicCache` grows by concatenation, copying the whole cache at every step; here each
  layer writes into a buffer sized once for the batch;
- one random stream per batch makes a prompt's samples depend on its batch-mates; here each
  sample draws its uniforms from its own generator, seeded by (seed, prompt text, how many
  identical prompts came before it in the call, sample index), and picks its token by
  inverse-CDF sampling of the same distribution (temperature, then nucleus) that `generate`
  samples from.

Greedy decoding takes the argmax of the same logits, so its output equals `generate`'s.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from driftlab.models.kv_cache import SharedPrefix, can_share_prefix, new_cache

TOP_P_CANDIDATES = 256  # nucleus looked for among the k likeliest tokens first (full sort if not)
MIN_SHARED_PREFIX = 16  # a shorter common prefix is prefilled with each prompt
COMPACT_SHARE = 8  # finished rows leave the batch once they are 1/8 of it (each exit copies the cache)


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


def pick_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                u: torch.Tensor | None) -> torch.Tensor:
    """Next token per row of [rows, vocab] logits: argmax at temperature 0, else one draw per row.

    The draw is inverse-CDF sampling with the row's uniform u: the first token whose cumulative
    probability exceeds u. The nucleus keeps a token while the mass of tokens likelier than it
    is below top_p, as transformers' TopPLogitsWarper does.
    """
    if temperature == 0:
        return logits.argmax(-1)
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
    if len(prompt_ids) < 2 and n < 2:
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
def sample_group(
    model, prompt_ids: list[list[int]], n: int, seeds: list[list[int]], *, pad_id: int,
    stop_ids: set[int], max_new_tokens: int, temperature: float, top_p: float,
    stopped: Callable[[list[int]], bool] | None = None,
) -> list[Sampled]:
    """n samples of each prompt (prompt-major order), prefilling each prompt once.

    The prompts' longest common prefix (a few-shot preamble, a system prompt) is prefilled
    once and copied to every row; each row's own suffix is then prefilled, left-padded, so
    the cache reads [prefix | padding | suffix] and every row's next token is last.
    """
    dev = next(model.parameters()).device
    rows = len(prompt_ids)
    shared = shared_prefix(prompt_ids, n)
    suffixes = [p[shared:] for p in prompt_ids]
    width = max(len(s) for s in suffixes)
    cache = new_cache(model, shared + width + max_new_tokens)
    split = bool(shared) and can_share_prefix(cache)
    if shared:
        model(input_ids=torch.tensor([prompt_ids[0][:shared]], device=dev), past_key_values=cache,
              use_cache=True, logits_to_keep=1)
        if split:  # one copy of the prefix, read by every row
            for layer in cache.layers:
                layer.share_prefix()
        else:
            cache.batch_repeat_interleave(rows)
    with SharedPrefix(model, cache) if split else nullcontext():
        return _decode(model, cache, prompt_ids, suffixes, shared, n, seeds, pad_id=pad_id,
                       stop_ids=stop_ids, max_new_tokens=max_new_tokens, temperature=temperature,
                       top_p=top_p, stopped=stopped)


def _decode(model, cache, prompt_ids, suffixes, shared, n, seeds, *, pad_id, stop_ids,
            max_new_tokens, temperature, top_p, stopped) -> list[Sampled]:
    dev = next(model.parameters()).device
    rows, width = len(prompt_ids), max(len(s) for s in suffixes)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    own = torch.zeros((rows, width), dtype=torch.long)
    for i, s in enumerate(suffixes):
        ids[i, width - len(s) :] = torch.tensor(s)
        own[i, width - len(s) :] = 1
    pos = (shared + own.cumsum(-1) - 1).masked_fill_(own == 0, 1)
    mask = torch.cat([own.new_ones(rows, shared), own], dim=1)
    logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
    next_pos = pos[:, -1] + 1
    if n > 1:  # share the prompt's cache among its samples
        cache.batch_repeat_interleave(n)
        logits, mask, next_pos = (t.repeat_interleave(n, dim=0) for t in (logits, mask, next_pos))
    rows *= n
    u = uniforms([s for ss in seeds for s in ss], max_new_tokens) if temperature > 0 else None
    out = [Sampled([], "length") for _ in range(rows)]
    alive = list(range(rows))  # the output row of each batch row
    done: set[int] = set()  # batch rows that finished but still sit in the batch
    for step in range(max_new_tokens):
        live_u = None if u is None else u[alive, step]
        tokens = pick_tokens(logits, temperature, top_p, live_u)
        for b, (r, t) in enumerate(zip(alive, tokens.tolist())):
            if b in done:
                continue
            if t in stop_ids:
                out[r].finish = "stop"
                done.add(b)
                continue
            out[r].ids.append(t)
            if stopped is not None and stopped(out[r].ids):
                out[r].finish = "stop"
                done.add(b)
        if step == max_new_tokens - 1 or len(done) == len(alive):
            break
        if len(done) * COMPACT_SHARE >= len(alive):
            keep = [b for b in range(len(alive)) if b not in done]
            cache.batch_select_indices(torch.tensor(keep, device=dev))
            sel = torch.tensor(keep)
            tokens, mask, next_pos = tokens[sel.to(tokens.device)], mask[sel], next_pos[sel]
            alive, done = [alive[b] for b in keep], set()
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=1)
        logits = model(input_ids=tokens[:, None].to(dev), attention_mask=mask.to(dev),
                       position_ids=next_pos[:, None].to(dev), past_key_values=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1]
        next_pos = next_pos + 1
    return out
