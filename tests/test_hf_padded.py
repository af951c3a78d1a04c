"""The one padded forward (models/hf_padded.py) behind `HFModel._score` and `option_logprobs`.

The pinned values were computed on the tiny model (tests/tiny.py, seed 0, one thread) by the
code before the two scorers shared it (commit 2b20733, each with its own padding loop); the
new code reproduced them bit for bit there. The tolerance leaves room for another CPU's
float rounding only: a wrong column, position or batch cut moves these sums by far more.
"""

from __future__ import annotations

import pytest
import torch

from driftlab.models.hf import HFModel
from driftlab.models.hf_padded import by_length, left_pad, tail_logits

TEXTS = [
    "Mia has 12 stickers.",
    "The answer is 7.",
    "Tom buys 3 apples and 4 pears. Think step by step.",
    "0 1 2 3",
    "The quick brown fox jumps over the lazy dog.",
]
COMPLETIONS = [
    "The answer is 7.",
    "7",
    "plus minus",
    "Think step by step. The answer is 12.",
    "fox",
]
OPTIONS = ["Score: 1", "Score: 4", "Score: 5", " Yes", "(A)", "No"]

OLD_SCORES = [
    "-0x1.142fa4p+5",
    "-0x1.6f9c8ap+2",
    "-0x1.ca59b4p+4",
    "-0x1.5733f0p+6",
    "-0x1.1214a8p+4",
]
OLD_TEXTS = [
    ("-0x1.28136cp+6", 13),
    ("-0x1.123458p+5", 6),
    ("-0x1.4a1ae6p+7", 29),
    ("-0x1.6c95aep+4", 4),
    ("-0x1.856578p+7", 34),
]
OLD_OPTIONS = [
    "-0x1.3f8ac54p+5",
    "-0x1.408a99cp+5",
    "-0x1.3ee6208p+5",
    "-0x1.1236988p+4",
    "-0x1.105f488p+4",
    "-0x1.6fe0d0p+3",
]


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def tiny(tiny_model):
    m = HFModel.load(str(tiny_model), batch_size=3)
    m.score_tokens = 40  # with batch_size 3: batches cut by rows and by tokens
    return m


def close(new: list[float], old: list[str]) -> bool:
    return new == pytest.approx([float.fromhex(x) for x in old], rel=1e-6, abs=1e-6)


def test_scores_are_the_values_of_the_code_before_the_shared_forward(tiny):
    chats = [chat(t) for t in TEXTS]
    assert close(tiny.logprobs(chats, COMPLETIONS), OLD_SCORES)
    texts = tiny.text_logprobs(TEXTS)
    assert [n for _, n in texts] == [n for _, n in OLD_TEXTS]
    assert close([s for s, _ in texts], [s for s, _ in OLD_TEXTS])
    # three options sharing one pass (they differ in their last token), a raw-text prompt, others
    prompts = [chats[0]] * 3 + [TEXTS[1], chats[2], chats[4]]
    assert close(tiny.option_logprobs(prompts, OPTIONS), OLD_OPTIONS)


def test_tail_logits_are_the_unpadded_rows_logits(tiny):
    """Left padding with masked pads and shifted positions: each row's kept logits are those of
    the row run alone, and logits[:, t] predicts ids[:, width - keep + 1 + t]."""
    rows = [tiny.tokenizer(t)["input_ids"] for t in TEXTS[:3]]
    keep = 4
    with torch.no_grad():
        ids, logits = tail_logits(tiny.model, rows, tiny.tokenizer.pad_token_id, keep)
        for j, r in enumerate(rows):
            alone = tiny.model(torch.tensor([r])).logits[0, -keep:-1]
            assert torch.allclose(logits[j], alone, atol=1e-5)
            assert ids[j, -len(r) :].tolist() == r
    assert logits.shape[:2] == (3, keep - 1) and logits.dtype == torch.float32


def test_left_pad_and_length_batches():
    ids, mask = left_pad([[5, 6], [7], [1, 2, 3]], pad_id=0)
    assert ids.tolist() == [[0, 5, 6], [0, 0, 7], [1, 2, 3]]
    assert mask.tolist() == [[0, 1, 1], [0, 0, 1], [1, 1, 1]]
    lengths = [5, 1, 3, 3, 9, 2]
    assert by_length(lengths, max_rows=2) == [[1, 5], [2, 3], [0, 4]]
    # with a token budget: a batch of b rows as wide as its last row holds b * width <= 8
    assert by_length(lengths, max_rows=4, max_tokens=8) == [[1, 5], [2, 3], [0], [4]]
    assert by_length([], max_rows=3) == []
