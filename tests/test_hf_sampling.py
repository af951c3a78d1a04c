"""The decode loop (models/hf_decode.py) against transformers' `generate`, the reference sampler.

Greedy outputs must equal `generate`'s; sampled tokens must follow the same distribution
(temperature, then nucleus); a prompt's samples must not depend on its batch-mates.
"""

import pytest
import torch
from scipy.stats import chisquare

from driftlab.models import hf_decode
from driftlab.models.base import SamplingParams
from driftlab.models.hf import HFModel
from driftlab.models.hf_decode import pick_tokens, sample, sequence_seeds, shared_prefix

PREAMBLE = "You answer arithmetic questions about apples, pears and stickers, step by step. " * 2
CHATS = [
    [{"role": "system", "content": PREAMBLE}, {"role": "user", "content": q}]
    for q in ["Mia has 3 apples?", "7 times 8", "Tom buys 3 apples and 4 pears. How many?", "hi"]
] + [[{"role": "user", "content": "The quick brown fox"}]]


@pytest.fixture(scope="module")
def varied_model(tiny_model, tmp_path_factory):
    """The tiny model with its matrices re-drawn at std 0.2, so that its greedy text varies (at
    the initial std 0.02 every prompt greedily repeats one token, which would test nothing)."""
    m = HFModel.load(str(tiny_model))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in m.model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    path = tmp_path_factory.mktemp("varied")
    m.model.save_pretrained(path)
    m.tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(varied_model):
    return HFModel.load(str(varied_model), batch_size=8)


def reference_greedy(m: HFModel, chat, max_new_tokens: int) -> list[int]:
    """Plain `model.generate` on one unpadded prompt."""
    ids = m.tokenizer(m.render(chat), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        seq = m.model.generate(
            input_ids=ids,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=m.tokenizer.pad_token_id,
            eos_token_id=m.tokenizer.eos_token_id,
        )
    out = seq[0, ids.shape[1] :].tolist()
    stops = {m.tokenizer.eos_token_id, m.tokenizer.pad_token_id}
    return out[: next((k for k, t in enumerate(out) if t in stops), len(out))]


def test_greedy_equals_plain_generate(model):
    ids = [model.tokenizer(model.render(c), add_special_tokens=False)["input_ids"] for c in CHATS]
    assert shared_prefix(ids[:4]) >= 16  # the system preamble is prefilled once for the batch
    p = SamplingParams(n=1, temperature=0, max_new_tokens=24)
    ours = model.generate(CHATS[:4], p) + model.generate(CHATS[4:], p)
    assert [x[0].text for x in model.generate(CHATS, p)] == [x[0].text for x in ours]
    for chat, [c] in zip(CHATS, ours):
        ref = reference_greedy(model, chat, 24)
        assert c.num_tokens == len(ref)
        assert c.text == model.tokenizer.decode(ref, skip_special_tokens=True).strip()
    model.decoder = "generate"  # the old path, batched with left padding
    try:
        assert [x[0].text for x in model.generate(CHATS, p)] == [x[0].text for x in ours]
    finally:
        del model.decoder


def nucleus_probs(m: HFModel, chat, temperature: float, top_p: float) -> torch.Tensor:
    """The first token's distribution as transformers' warpers define it, from one forward pass."""
    ids = m.tokenizer(m.render(chat), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = m.model(input_ids=ids).logits[0, -1]
    probs = torch.softmax(logits / temperature, -1)
    vals, idx = probs.sort(descending=True)
    vals[vals.cumsum(0) - vals >= top_p] = 0
    return torch.zeros_like(probs).scatter_(0, idx, vals / vals.sum())


def first_tokens(m: HFModel, chat, params: SamplingParams, sampler: str) -> list[int]:
    """params.n first tokens of `chat`, by the decode loop or by `generate` (the old path)."""
    tok = m.tokenizer
    ids = tok(m.render(chat), add_special_tokens=False)["input_ids"]
    if sampler == "generate":
        torch.manual_seed(params.seed)
        with torch.inference_mode():
            seq = m.model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids)),
                generation_config=m._generation_config(params),
            )
        return seq[:, len(ids)].tolist()
    rows = sample(
        m.model,
        [ids],
        params.n,
        sequence_seeds([str(params.seed)], params.n, 0),
        batch_rows=params.n,
        pad_id=tok.pad_token_id,
        stop_ids=set(),
        max_new_tokens=1,
        temperature=params.temperature,
        top_p=params.top_p,
    )
    return [r.ids[0] for r in rows]


def test_first_token_frequencies_match_the_distribution(varied_model):
    """Chi-square of first-token counts against the exact nucleus distribution, for the new
    sampler and for `generate` (the test's own check that the expected counts are right)."""
    m = HFModel.load(str(varied_model))
    chat = [{"role": "user", "content": "Mia has 12 stickers. She gives 5 away."}]
    probs = nucleus_probs(m, chat, 0.6, 0.8)
    for sampler in ("loop", "generate"):
        counts = torch.zeros_like(probs, dtype=torch.long)
        for seed in range(5):
            params = SamplingParams(n=800, temperature=0.6, top_p=0.8, max_new_tokens=1, seed=seed)
            for t in first_tokens(m, chat, params, sampler):
                counts[t] += 1
        assert counts[probs == 0].sum() == 0, sampler  # nothing from outside the nucleus
        expected = probs * counts.sum()
        big = expected >= 5  # chi-square needs >= 5 expected per cell: pool the rest
        rest = ~big & (probs > 0)
        obs, exp = counts[big].double(), expected[big].double()
        if rest.any():
            obs = torch.cat([obs, counts[rest].sum()[None].double()])
            exp = torch.cat([exp, expected[rest].sum()[None].double()])
        exp *= obs.sum() / exp.sum()  # float rounding only
        assert int(big.sum()) >= 10  # a test over many cells, not one
        assert chisquare(obs.numpy(), exp.numpy()).pvalue > 1e-3, sampler


def test_pick_tokens_top_p_uses_the_full_sort_when_the_nucleus_is_wide():
    torch.manual_seed(0)
    logits = torch.zeros(2, 1000)  # flat: the 0.9 nucleus holds 900 tokens, beyond the top-256
    u = torch.tensor([0.05, 0.999], dtype=torch.float64)
    tokens = pick_tokens(logits, 1.0, 0.9, u)
    assert tokens.tolist()[0] < 1000 and 0 <= tokens.tolist()[1] < 1000
    # u near 1 lands on the last token inside the nucleus, never outside it
    probs = torch.softmax(torch.randn(3, 500) * 3, -1)
    tokens = pick_tokens(probs.log(), 1.0, 0.5, torch.full((3,), 0.999999, dtype=torch.float64))
    for row, t in zip(probs, tokens):
        above = row[row > row[t]].sum()
        assert above < 0.5  # t is in the nucleus: less than top_p of mass is likelier


def test_a_prompts_samples_do_not_depend_on_its_batch(model, varied_model):
    p = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=7)
    together = model.generate(CHATS, p)
    alone = model.generate([CHATS[2]], p)[0]
    assert [c.text for c in together[2]] == [c.text for c in alone]
    other_batches = HFModel.load(str(varied_model), batch_size=3).generate(CHATS[::-1], p)[::-1]
    assert [[c.text for c in x] for x in other_batches] == [[c.text for c in x] for x in together]
    # repeats of one prompt in a call draw different samples, the same on every call
    twice = model.generate([CHATS[2], CHATS[2]], p)
    assert [c.text for c in twice[0]] == [c.text for c in alone]
    assert [c.text for c in twice[1]] != [c.text for c in twice[0]]
    assert sequence_seeds(["a", "b", "a"], 2, 0)[0] == sequence_seeds(["a"], 2, 0)[0]


def test_rows_entering_a_running_batch_decode_as_they_would_alone(model, monkeypatch):
    """Continuous batching: with many stop tokens rows finish early and at different steps,
    so waiting prompts enter a running batch (right-aligned onto its cache, with and without
    a shared prefix); every row's tokens equal those it draws decoding alone."""
    merges = []
    merge = hf_decode._Batch.merge

    def counted_merge(self, other):
        merges.append(1)
        return merge(self, other)

    monkeypatch.setattr(hf_decode._Batch, "merge", counted_merge)
    tok = model.tokenizer
    chats = CHATS * 3 + [[{"role": "user", "content": "word " * k}] for k in range(1, 7)]
    ids = [tok(model.render(c), add_special_tokens=False)["input_ids"] for c in chats]
    for temperature, n in ((0.0, 1), (1.0, 2)):
        seeds = sequence_seeds([str(i) for i in range(len(ids))], n, 3)
        kw = dict(pad_id=tok.pad_token_id, max_new_tokens=12, temperature=temperature, top_p=0.9)
        free = sample(model.model, ids, n, seeds, batch_rows=64, stop_ids=set(), **kw)
        # stop tokens: ones the rows do produce, at different steps
        kw["stop_ids"] = {r.ids[(i % 5) + 2] for i, r in enumerate(free)} - {r.ids[0] for r in free}
        for group in (ids[:12], ids):  # all share the preamble; then mixed, no shared prefix
            seeds_g = seeds[: len(group)]
            merges.clear()
            batched = sample(model.model, group, n, seeds_g, batch_rows=6, **kw)
            assert merges  # prompts did enter a running batch
            alone = [
                r
                for p, s in zip(group, seeds_g)
                for r in sample(model.model, [p], n, [s], batch_rows=n, **kw)
            ]
            assert [(r.ids, r.finish) for r in batched] == [(r.ids, r.finish) for r in alone]
            lengths = {len(r.ids) for r in batched}
            assert len(lengths) >= 3  # rows really did finish at different steps
