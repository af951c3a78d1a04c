"""Log-probabilities of short option strings after long prompts ("(A)" vs "(B)", "Score: 3").

Judges read a preference from a few candidate replies to one long prompt. The generic
`Generator.logprobs` is exact but, on the transformers backend, computes a full-vocabulary
log-softmax at every prompt position (measured: 12 GB and minutes for 288 judge prompts of
~400 tokens at batch 64 on CPU). For an HFModel this module computes the same sums cheaper:

- rows are left-padded so every option ends at the last position, and only the last few
  positions' logits are computed (`logits_to_keep`);
- options of one prompt whose token sequences differ only in their last token ("Score: 0"
  ... "Score: 5", "Yes"/"No") share one forward pass: the shared tokens are scored once and
  each option adds its own last-token log-probability.

A policy sampled by a server (models/policy.py's ServedPolicy) is scored by its transformers
`scorer`; any other backend falls back to its own `logprobs`.
"""

from __future__ import annotations

import functools

from driftlab import progress
from driftlab.models.base import Chat, Generator


def option_logprobs(
    model: Generator, chats: list[Chat], options: list[str], desc: str = "judging"
) -> list[float]:
    """Sum log p(option | rendered chat) per (chat, option) pair, in nats."""
    from driftlab.models.hf import HFModel

    if not chats:
        return []
    model = getattr(model, "scorer", model)  # a policy sampled by vLLM is scored by transformers
    if not isinstance(model, HFModel):
        return model.logprobs(chats, options)
    tok = model.tokenizer
    rendered: dict[str, list[int]] = {}
    groups: dict[str, list[tuple[int, list[int]]]] = {}  # prompt text -> [(pair index, option ids)]
    for i, (chat, option) in enumerate(zip(chats, options, strict=True)):
        text = model.render(chat)
        if text not in rendered:
            rendered[text] = tok(text, add_special_tokens=False)["input_ids"]
        groups.setdefault(text, []).append((i, tok(option, add_special_tokens=False)["input_ids"]))
    rows = []  # (token ids, completion length, {pair index: last token id})
    for text, members in groups.items():
        p_ids = rendered[text]
        head = members[0][1][:-1]
        if all(len(ids) >= 1 and ids[:-1] == head for _, ids in members):
            rows.append((p_ids + members[0][1], len(head) + 1, {i: ids[-1] for i, ids in members}))
        else:
            rows += [(p_ids + ids, len(ids), {i: ids[-1]}) for i, ids in members]
    out = [0.0] * len(chats)
    for row_scores in _score_tails(model, rows, desc):
        for i, value in row_scores.items():
            out[i] = value
    return out


def _inference_mode(fn):
    """torch.inference_mode(), importing torch at the first call: loading a config imports this."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)

    return run


@_inference_mode
def _score_tails(
    model, rows: list[tuple[list[int], int, dict[int, int]]], desc: str
) -> list[dict[int, float]]:
    """Per row: {pair index: log p of the shared completion head + that pair's last token}."""
    import torch

    pad = model.tokenizer.pad_token_id
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    out: list[dict[int, float]] = [{} for _ in rows]
    with progress.task(desc, total=len(rows), unit="prompts") as advance:
        for start in range(0, len(order), model.batch_size):
            idx = order[start : start + model.batch_size]
            width = max(len(rows[i][0]) for i in idx)
            keep = max(rows[i][1] for i in idx) + 1
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):  # left padding: every row ends at the last position
                r = rows[i][0]
                ids[j, width - len(r) :] = torch.tensor(r)
                mask[j, width - len(r) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            dev = model.device
            logits = model.model(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                position_ids=positions.to(dev),
                logits_to_keep=keep,
            ).logits.float()
            logp = torch.log_softmax(
                logits[:, :-1], dim=-1
            ).cpu()  # kept position t predicts token t + 1
            targets = ids[:, width - keep + 1 :]
            tok_lp = logp.gather(-1, targets[..., None])[..., 0]
            for j, i in enumerate(idx):
                n, lasts = rows[i][1], rows[i][2]
                head = float(
                    tok_lp[j, keep - 1 - n : keep - 2].sum()
                )  # completion tokens but the last
                for pair, last in lasts.items():
                    out[i][pair] = head + float(logp[j, keep - 2, last])
            advance(len(idx))
    return out
