"""Amplified sampling: make a behavior B shows rarely show more often, to propose hypotheses.

Logit-difference amplification: each next token is drawn from
    logits_B + alpha * (logits_B - logits_A)
(alpha 0 is B itself), so what B does more than A is exaggerated. The amplified texts are
never evidence: the pipeline proposes groups, labels and dimension shifts from them on the
labeling half of the prompts and validates every one on B's ordinary samples of the held-out
half, so amplification cannot create a finding by itself. Needs two transformers models
sharing a tokenizer (a fine-tune and its base; `runs/x@k` and its base model).
"""

from __future__ import annotations

import torch

from driftlab import progress
from driftlab.diff.sampling import records
from driftlab.errors import DriftlabError
from driftlab.models.base import Chat, Completion, SamplingParams
from driftlab.models.hf_decode import pick_tokens, sequence_seeds, uniforms


def amplified_logits(logits_a: torch.Tensor, logits_b: torch.Tensor, alpha: float) -> torch.Tensor:
    return logits_b + alpha * (logits_b - logits_a)


def check_pair(model_a, model_b) -> None:
    """One clear error unless both are transformers models with the same vocabulary."""
    for m in (model_a, model_b):
        if not (hasattr(m, "model") and hasattr(m, "tokenizer")):
            raise DriftlabError(
                f"amplified sampling needs two local transformers models; {m.name} is not one"
            )
    if model_a.tokenizer.get_vocab() != model_b.tokenizer.get_vocab():
        raise DriftlabError(
            f"amplified sampling needs models that share a tokenizer: {model_a.name} and "
            f"{model_b.name} do not"
        )


@torch.inference_mode()
def sample_amplified(
    model_a, model_b, chats: list[Chat], params: SamplingParams, alpha: float, desc: str
) -> list[list[Completion]]:
    """params.n completions per chat from the amplified distribution, in input order.

    Each (prompt, sample) row draws with the same per-row uniforms as B's ordinary sampler
    (driftlab.models.hf_decode), so alpha 0 gives B's own samples."""
    check_pair(model_a, model_b)
    tok = model_b.tokenizer
    prompts = [model_b.render(c) for c in chats]
    ids = tok(prompts, add_special_tokens=False)["input_ids"]
    seeds = sequence_seeds(prompts, params.n, params.seed)
    rows = [(i, j) for i in range(len(prompts)) for j in range(params.n)]
    rows.sort(key=lambda r: len(ids[r[0]]))
    stop_ids = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
    out: dict[tuple[int, int], Completion] = {}
    size = max(1, model_b.batch_size)
    with progress.task(desc, total=len(rows), unit="samples") as advance:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            gen = _decode(
                model_a.model,
                model_b.model,
                [ids[i] for i, _ in batch],
                [seeds[i][j] for i, j in batch],
                alpha,
                params,
                tok.pad_token_id,
                stop_ids,
                model_b.device,
            )
            for (i, j), (toks, finish) in zip(batch, gen):
                text = tok.decode(toks, skip_special_tokens=True).strip()
                out[(i, j)] = Completion(text, len(toks), finish)
            advance(len(batch))
    return [[out[(i, j)] for j in range(params.n)] for i in range(len(prompts))]


def _decode(lm_a, lm_b, prompt_ids, seeds, alpha, params, pad_id, stop_ids, dev):
    width = max(len(p) for p in prompt_ids)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompt_ids], device=dev)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids], device=dev)
    pos = (mask.cumsum(-1) - 1).clamp_(min=0)
    u = uniforms(seeds, params.max_new_tokens) if params.temperature > 0 else None
    caches: list = [None, None]
    step_ids = ids
    gen: list[list[int]] = [[] for _ in prompt_ids]
    finish = ["length"] * len(prompt_ids)
    done = torch.zeros(len(prompt_ids), dtype=torch.bool)
    for t in range(params.max_new_tokens):
        logits = []
        for k, lm in enumerate((lm_a, lm_b)):
            o = lm(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=caches[k],
                use_cache=True,
                logits_to_keep=1,
            )
            caches[k] = o.past_key_values
            logits.append(o.logits[:, -1].float())
        nxt = pick_tokens(
            amplified_logits(logits[0], logits[1], alpha),
            params.temperature,
            params.top_p,
            None if u is None else u[:, t],
        ).cpu()
        for r, x in enumerate(nxt.tolist()):
            if done[r]:
                continue
            if x in stop_ids:
                finish[r], done[r] = "stop", True
            else:
                gen[r].append(x)
        if bool(done.all()):
            break
        step_ids = nxt[:, None].to(dev)
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        pos = pos[:, -1:] + 1
    return list(zip(gen, finish))


def amplified_records(
    model_a, model_b, prompts: list[dict], s, seed: int, alpha: float
) -> list[dict]:
    """B's text records (driftlab.diff.sampling) drawn amplified, each marked `amplified`."""
    chats = [[{"role": "user", "content": p["prompt"]}] for p in prompts]
    params = SamplingParams(
        n=s.samples,
        temperature=s.temperature,
        top_p=s.top_p,
        max_new_tokens=s.max_new_tokens,
        seed=seed,
    )
    outs = sample_amplified(
        model_a, model_b, chats, params, alpha, f"diff: sampling model B amplified x{alpha:g}"
    )
    return records("b", prompts, outs, amplified=alpha)
