"""The two-choice judge (models/judging.py) and the transformers backend's option_logprobs.

Unit tests on a tiny random-weight Llama and on a scripted judge whose log-probs are known;
the backends' agreement with each other on the real SmolLM2 is in test_openai_server.py.
"""

from __future__ import annotations

import math
from typing import cast

import pytest

from driftlab.errors import DriftlabError
from driftlab.models.base import Generator
from driftlab.models.judging import TwoChoice, Verdict, check_judge, judge, normalise
from tests.scripted import Scripted


@pytest.fixture(scope="module")
def tiny(tiny_model):
    from driftlab.models.hf import HFModel

    return HFModel.load(str(tiny_model), batch_size=3)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_option_logprobs_fast_path_matches_the_generic_scorer(tiny):
    """The judges' left-padded, last-positions-only scorer gives the generic scorer's sums."""
    chats = [chat("Is the sky blue? " * k) for k in (1, 3, 7, 2)]
    options = ["(A)", "Score: 3", "Yes", "No thanks at all"]
    fast, slow = tiny.option_logprobs(chats, options), tiny.logprobs(chats, options)
    assert fast == pytest.approx(slow, abs=1e-4)
    # Options of one prompt that differ in their last token share a forward pass; others do not.
    shared = [chats[1]] * 6 + [chats[2]] * 2
    options = [f"Score: {v}" for v in range(6)] + ["(A)", "(B)"]
    assert tiny.option_logprobs(shared, options) == pytest.approx(
        tiny.logprobs(shared, options), abs=1e-4
    )
    assert tiny.option_logprobs([], []) == []
    with pytest.raises(ValueError, match="differ in length"):
        tiny.option_logprobs(chats, options)


def test_raw_text_prompts_are_scored_without_the_template(tiny):
    """A str prompt is raw text, tokenized as the tokenizer does by default (no template)."""
    prompt, option = "Is the sky blue? Answer:", " Yes"
    [lp] = tiny.option_logprobs([prompt], [option])
    p_ids = tiny.tokenizer(prompt)["input_ids"]
    o_ids = tiny.tokenizer(option, add_special_tokens=False)["input_ids"]
    [(generic, n)] = tiny._score([(p_ids + o_ids, len(p_ids))], "scoring")
    assert lp == pytest.approx(generic, abs=1e-4) and n == len(o_ids)
    # the same words as a chat go through the template and score differently
    [lp_chat] = tiny.option_logprobs([chat(prompt)], [option])
    assert abs(lp_chat - lp) > 1e-3


def test_both_orders_on_a_real_model(tiny):
    """Verdicts hold the backend's own log-probs, and swapping the choices mirrors them."""
    ab, ba = (
        chat("Which is better? (A) tea (B) coffee"),
        chat("Which is better? (A) coffee (B) tea"),
    )
    [v] = judge(tiny, [TwoChoice(ab, ba)], ("(A)", "(B)"))
    lps = tiny.option_logprobs([ab, ab, ba, ba], ["(A)", "(B)", "(A)", "(B)"])
    assert v.logp_forward == tuple(lps[:2]) and v.logp_backward == tuple(lps[2:])
    assert v.p_first == pytest.approx((normalise(*lps[:2]) + 1 - normalise(*lps[2:])) / 2)
    [w] = judge(tiny, [TwoChoice(ba, ab)], ("(A)", "(B)"))  # the other reply as the first choice
    assert w.p_first == pytest.approx(1 - v.p_first) and w.p_slot == pytest.approx(v.p_slot)
    [once] = judge(tiny, [TwoChoice(ab)], ("(A)", "(B)"))
    assert once.p_first == v.p_forward and once.p_slot is None and once.orders_agree is None
    assert once.log_odds == pytest.approx(lps[0] - lps[1])


def scripted(table: dict[tuple[str, str], float]) -> Generator:
    """A judge whose log-prob of each (last user message, option) is given; it samples nothing."""
    return cast(Generator, Scripted(None, lambda content, option: table[(content, option)]))


def test_position_bias_cancels_and_content_preference_survives():
    # A judge that always says (A), whatever it is shown: 4:1 in both orders.
    lean = scripted({(c, o): math.log(4) if o == "A" else 0.0 for c in "xy" for o in "AB"})
    [v] = judge(lean, [TwoChoice(chat("x"), chat("y"))])
    assert v.p_first == pytest.approx(0.5) and v.p_slot == pytest.approx(0.8)
    assert v.orders_agree is False
    # Content preference 3:1 for the first choice, in both orders: no bias, agreement.
    fair = scripted(
        {("x", "A"): math.log(3), ("x", "B"): 0.0, ("y", "A"): 0.0, ("y", "B"): math.log(3)}
    )
    [v] = judge(fair, [TwoChoice(chat("x"), chat("y"))])
    assert v.p_first == pytest.approx(0.75) and v.p_slot == pytest.approx(0.5) and v.orders_agree


def test_ties_and_extremes():
    tie = scripted({(c, o): -2.0 for c in "xy" for o in "AB"})
    [v] = judge(tie, [TwoChoice(chat("x"), chat("y"))])
    assert v.p_forward == v.p_backward == v.p_first == 0.5 and v.p_slot == 0.5
    # an exact 0.5 picks neither, and counts as "not the first" in both orders: they agree
    assert v.orders_agree is True
    assert Verdict((-1e6, 0.0)).p_first == 0.0 and Verdict((0.0, -1e6)).p_first == 1.0
    assert judge(tie, []) == []


def test_a_backend_without_logprobs_fails_at_the_check():
    from driftlab.models.openai import OpenAIModel

    chat_only = OpenAIModel.from_spec("m@http://127.0.0.1:9/v1")  # nothing listens; no template
    with pytest.raises(DriftlabError, match="needs `template`"):
        check_judge(chat_only)
