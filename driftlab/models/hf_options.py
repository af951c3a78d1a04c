"""The transformers backend's `option_logprobs`: short options ("(A)", "Score: 3") after long
prompts, computed cheaper than the generic `HFModel.logprobs`.

Judges read a preference from a few candidate replies to one long prompt. Scoring each pair
on its own would compute a full-vocabulary log-softmax at every prompt position (measured:
12 GB and minutes for 288 judge prompts of ~400 tokens at batch 64 on CPU). Instead:

- rows are left-padded so every option ends at the last position, and only the last few
  positions' logits are computed (hf_padded.tail_logits, shared with `HFModel._score`);
- options of one prompt whose token sequences differ only in their last token ("Score: 0"
  ... "Score: 5", "Yes"/"No") share one forward pass: the shared tokens are scored once and
  each option adds its own last-token log-probability.

A chat is rendered with the model's chat template (its special tokens come from there); a raw
text is tokenized as the tokenizer does by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from driftlab import progress
from driftlab.models.base import Prompt
from driftlab.models.hf_padded import by_length, tail_logits

if TYPE_CHECKING:
    from driftlab.models.hf import HFModel


def option_logprobs(
    model: HFModel, prompts: list[Prompt], options: list[str], desc: str = "judging"
) -> list[float]:
    """Sum log p(option | prompt) per (prompt, option) pair, in nats."""
    if len(prompts) != len(options):
        raise ValueError("option_logprobs: prompts and options differ in length")
    if not prompts:
        return []
    tok = model.tokenizer
    rendered: dict[tuple[bool, str], list[int]] = {}
    groups: dict[tuple[bool, str], list[tuple[int, list[int]]]] = {}  # prompt -> [(pair, ids)]
    for i, (prompt, option) in enumerate(zip(prompts, options, strict=True)):
        key = (True, prompt) if isinstance(prompt, str) else (False, model.render(prompt))
        if key not in rendered:
            rendered[key] = tok(key[1], add_special_tokens=key[0])["input_ids"]
        groups.setdefault(key, []).append((i, tok(option, add_special_tokens=False)["input_ids"]))
    rows = []  # (token ids, completion length, {pair index: last token id})
    for key, members in groups.items():
        p_ids = rendered[key]
        head = members[0][1][:-1]
        if all(len(ids) >= 1 and ids[:-1] == head for _, ids in members):
            rows.append((p_ids + members[0][1], len(head) + 1, {i: ids[-1] for i, ids in members}))
        else:
            rows += [(p_ids + ids, len(ids), {i: ids[-1]}) for i, ids in members]
    out = [0.0] * len(prompts)
    for row_scores in _score_tails(model, rows, desc):
        for i, value in row_scores.items():
            out[i] = value
    return out


@torch.inference_mode()
def _score_tails(
    model, rows: list[tuple[list[int], int, dict[int, int]]], desc: str
) -> list[dict[int, float]]:
    """Per row: {pair index: log p of the shared completion head + that pair's last token}."""
    pad = model.tokenizer.pad_token_id
    out: list[dict[int, float]] = [{} for _ in rows]
    with progress.task(desc, total=len(rows), unit="prompts") as advance:
        for idx in by_length([len(r[0]) for r in rows], model.batch_size):
            keep = max(rows[i][1] for i in idx) + 1
            ids, logits = tail_logits(model.model, [rows[i][0] for i in idx], pad, keep)
            logp = torch.log_softmax(logits, dim=-1).cpu()  # kept position t predicts token t + 1
            tok_lp = logp.gather(-1, ids[:, ids.shape[1] - keep + 1 :, None])[..., 0]
            for j, i in enumerate(idx):
                n, lasts = rows[i][1], rows[i][2]
                head = float(tok_lp[j, keep - 1 - n : keep - 2].sum())  # all tokens but the last
                for pair, last in lasts.items():
                    out[i][pair] = head + float(logp[j, keep - 2, last])
            advance(len(idx))
    return out
