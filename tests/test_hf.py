import math

import pytest
import torch

from driftlab.errors import DriftlabError
from driftlab.models.base import SamplingParams
from driftlab.models.hf import HFModel

CHATS = [
    [{"role": "user", "content": "Mia has 3 apples?"}],
    [{"role": "user", "content": "7 times 8"}],
]


@pytest.fixture(scope="module")
def model(tiny_model):
    return HFModel.load(str(tiny_model), batch_size=4)


def test_n_samples_per_chat_reproducible_by_seed(model):
    p = SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=5)
    a = model.generate(CHATS, p)
    assert [len(x) for x in a] == [3, 3]
    assert [[c.text for c in x] for x in a] == [
        [c.text for c in x] for x in model.generate(CHATS, p)
    ]
    other = model.generate(CHATS, SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seed=6))
    assert [[c.text for c in x] for x in a] != [[c.text for c in x] for x in other]
    assert all(0 < c.num_tokens <= 8 or c.finish_reason == "stop" for x in a for c in x)


def test_batching_does_not_change_greedy_output(model, tiny_model):
    p = SamplingParams(n=1, temperature=0, max_new_tokens=8)
    one_by_one = HFModel.load(str(tiny_model), batch_size=1).generate(CHATS, p)
    assert [x[0].text for x in model.generate(CHATS, p)] == [x[0].text for x in one_by_one]


def test_stop_strings_cut_the_text(model):
    p = SamplingParams(n=4, temperature=1.5, max_new_tokens=12, seed=1)
    free = [c.text for x in model.generate(CHATS, p) for c in x]
    stop = next(t[2:4] for t in free if len(t) > 5)  # a string the model does produce
    cut = model.generate(
        CHATS, SamplingParams(n=4, temperature=1.5, max_new_tokens=12, seed=1, stop=(stop,))
    )
    assert all(stop not in c.text for x in cut for c in x)


def test_logprobs_match_a_manual_forward_pass(model):
    completion = "The answer is 7."
    [lp] = model.logprobs(CHATS[:1], [completion])
    prompt = model.render(CHATS[0])
    p_ids = model.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c_ids = model.tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + c_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model.model(ids).logits[0, :-1], -1)
    manual = sum(logp[len(p_ids) - 1 + i, t].item() for i, t in enumerate(c_ids))
    assert lp == pytest.approx(manual, abs=1e-4)
    # Batched scoring of texts of different lengths gives the same numbers as one at a time.
    texts = ["short", "a much longer text about apples and pears"]
    together = model.text_logprobs(texts)
    alone = [model.text_logprobs([t])[0] for t in texts]
    for (a, n), (b, m) in zip(together, alone):
        assert n == m and a == pytest.approx(b, abs=1e-4) and a < 0 and math.isfinite(a)
    # A token budget smaller than two rows splits every batch; the numbers stay the same.
    model.score_tokens = 8
    try:
        split = model.text_logprobs(texts)
    finally:
        del model.score_tokens
    assert [n for _, n in split] == [n for _, n in together]
    assert [s for s, _ in split] == pytest.approx([s for s, _ in together], abs=1e-4)


def test_adapters_stack_on_reload(model, tiny_model, tmp_path):
    from driftlab.config import TrainConfig
    from driftlab.train.sft import train_sft

    m = HFModel.load(str(tiny_model))
    rows = [
        {
            "prompt": [{"role": "user", "content": "2+2?"}],
            "completion": [{"role": "assistant", "content": "The answer is 4."}],
        }
    ] * 4
    cfg = TrainConfig(epochs=1, batch_size=2, lora_rank=2, learning_rate=1e-2)
    train_sft(m, rows, cfg, tmp_path / "a1", seed=0, desc="t")
    train_sft(m, rows, cfg, tmp_path / "a2", seed=1, desc="t")
    again = HFModel.load(str(tiny_model), adapters=[tmp_path / "a1", tmp_path / "a2"])
    for k, v in m.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_unknown_model_is_a_clear_error():
    with pytest.raises(DriftlabError, match="unknown model 'no-such-model'"):
        HFModel.load("no-such-model")
