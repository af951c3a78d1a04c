"""Amplified sampling on tiny random-weight models: alpha 0 is B, alpha > 0 exaggerates B - A."""

from __future__ import annotations

import pytest
import torch

from driftlab.diff.amplify import amplified_logits, sample_amplified
from driftlab.errors import DriftlabError
from driftlab.models.base import SamplingParams
from driftlab.models.hf import HFModel
from tests.tiny import build_tiny_model

CHATS = [
    [{"role": "user", "content": "Mia has 12 stickers. How many are left?"}],
    [{"role": "user", "content": "The quick brown fox"}],
    [{"role": "user", "content": "Tom buys 3 apples and 4 pears."}],
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("amp")
    a = HFModel.load(str(build_tiny_model(root / "a", seed=0)), batch_size=4)
    b = HFModel.load(str(build_tiny_model(root / "b", seed=1)), batch_size=4)
    return a, b


def test_alpha_zero_draws_exactly_b_samples(pair):
    a, b = pair
    params = SamplingParams(n=2, temperature=0.9, top_p=0.95, max_new_tokens=12, seed=3)
    amp = sample_amplified(a, b, CHATS, params, 0.0, "amplified")
    own = b.generate(CHATS, params)
    assert [[c.text for c in row] for row in amp] == [[c.text for c in row] for row in own]
    assert [[c.num_tokens for c in row] for row in amp] == [
        [c.num_tokens for c in row] for row in own
    ]


def test_alpha_moves_the_next_token_distribution_away_from_a(pair):
    a, b = pair
    ids = b.tokenizer(b.render(CHATS[0]), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        la = a.model(**ids).logits[0, -1]
        lb = b.model(**ids).logits[0, -1]
    pa, pb = la.softmax(-1), lb.softmax(-1)
    p2 = amplified_logits(la, lb, 2.0).softmax(-1)
    assert torch.allclose(amplified_logits(la, lb, 0.0).softmax(-1), pb)
    # the tokens B likes more than A get more of the mass, the ones A likes more get less
    up = pb > pa
    assert p2[up].sum() > pb[up].sum() and p2[~up].sum() < pb[~up].sum()


def test_amplified_samples_differ_from_b_and_are_reproducible(pair):
    a, b = pair
    params = SamplingParams(n=1, temperature=0.9, top_p=1.0, max_new_tokens=12, seed=5)
    one = sample_amplified(a, b, CHATS, params, 1.0, "amplified")
    two = sample_amplified(a, b, CHATS, params, 1.0, "amplified")
    own = b.generate(CHATS, params)
    assert [r[0].text for r in one] == [r[0].text for r in two]
    assert [r[0].text for r in one] != [r[0].text for r in own]


def test_models_without_a_shared_tokenizer_are_one_clear_error(pair):
    a, _ = pair

    class Remote:
        name = "openai:gpt"

    with pytest.raises(DriftlabError, match="two local transformers models"):
        sample_amplified(a, Remote(), CHATS, SamplingParams(max_new_tokens=4), 1.0, "x")
