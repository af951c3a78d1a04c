"""Left-padded batches for the transformers backend: the one padded forward that scoring
(`HFModel._score`, `hf_options`) runs, and the padding the sampler's prefill shares.

Rows are left-padded so that every row's last token sits in the last column: the scored
tokens of every row then lie in the last columns, and only those get logits
(`logits_to_keep`), not the whole [rows, length, vocabulary]. Rows are batched in ascending
length so that a batch is as wide as its last row and pads little.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids, attention mask), each [rows, longest row], each row ending in the last column."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, width - len(r) :] = torch.tensor(r)
        mask[j, width - len(r) :] = 1
    return ids, mask


def by_length(
    lengths: Sequence[int], max_rows: int, max_tokens: int | None = None
) -> list[list[int]]:
    """Row indices in ascending length, cut into batches of at most `max_rows` rows and, with
    `max_tokens`, at most that many padded tokens (a longer row goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # stable: ties keep input order
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while (
            end < len(order)
            and end - start < max_rows
            and (max_tokens is None or lengths[order[end]] * (end - start + 1) <= max_tokens)
        ):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def tail_logits(
    model: torch.nn.Module, rows: Sequence[Sequence[int]], pad_id: int, keep: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward over left-padded `rows`, logits for the last `keep` positions only.

    Returns (ids, logits): ids [rows, width] on the CPU and fp32 logits [rows, keep - 1, vocab]
    on the model's device, where logits[:, t] predicts ids[:, width - keep + 1 + t] (the last
    position predicts nothing in the rows and is dropped).
    """
    ids, mask = left_pad(rows, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp_(min=0)
    dev = next(model.parameters()).device
    logits = model(
        input_ids=ids.to(dev),
        attention_mask=mask.to(dev),
        position_ids=positions.to(dev),
        logits_to_keep=keep,
    ).logits
    return ids, logits[:, :-1].float()
