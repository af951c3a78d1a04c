"""The decode loop on the real built-in SmolLM2-135M: greedy text equals plain `model.generate`.

With few-shot chats the common preamble goes through the shared-prefix attention and rows
enter a running batch, so this checks that path's float rounding does not flip a real
model's argmax (tests/test_hf_sampling.py checks the same on a tiny model).
"""

import pytest
import torch

from driftlab.models.base import SamplingParams
from driftlab.models.hf import HFModel

FEWSHOT = [
    {"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"},
    {"role": "assistant", "content": "Tom starts with 3 apples. 3 + 4 = 7. The answer is 7."},
]
QUESTIONS = [
    "Mia has 12 stickers and gives 5 away. How many are left?",
    "A box holds 6 eggs. How many eggs are in 3 boxes?",
    "Sam reads 9 pages a day. How many pages in 4 days?",
]


@pytest.fixture(scope="module")
def smollm2():
    return HFModel.load("smollm2-135m-instruct", device="cpu", batch_size=4)


def test_greedy_equals_plain_generate_on_smollm2(smollm2):
    m = smollm2
    chats = [[*FEWSHOT, {"role": "user", "content": q}] for q in QUESTIONS]
    chats += [[{"role": "user", "content": "Name a colour of the sky."}]]
    ours = m.generate(chats, SamplingParams(n=1, temperature=0, max_new_tokens=40))
    for chat, [c] in zip(chats, ours):
        enc = m.tokenizer(m.render(chat), add_special_tokens=False, return_tensors="pt")
        ids = enc["input_ids"]
        with torch.inference_mode():
            seq = m.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=40,
                pad_token_id=m.tokenizer.pad_token_id,
                eos_token_id=m.tokenizer.eos_token_id,
            )
        ref = m.tokenizer.decode(seq[0, ids.shape[1] :], skip_special_tokens=True).strip()
        assert c.text == ref
    assert any(c.text for [c] in ours)


def test_samples_of_a_prompt_are_the_same_alone_and_batched_on_smollm2(smollm2):
    chats = [[*FEWSHOT, {"role": "user", "content": q}] for q in QUESTIONS]
    p = SamplingParams(n=3, temperature=0.7, top_p=0.95, max_new_tokens=24, seed=11)
    together = smollm2.generate(chats, p)
    alone = smollm2.generate(chats[1:2], p)[0]
    assert [c.text for c in together[1]] == [c.text for c in alone]
    assert len({c.text for c in alone}) > 1  # three different samples
