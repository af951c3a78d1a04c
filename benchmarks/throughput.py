"""Sampling and LoRA-training throughput on SmolLM2-135M against this machine's fp32 roofline.

Machines here are noisy, so every figure is printed beside a reference measured in the same
run: dense fp32 matmul GFLOP/s. A forward pass costs ~2N FLOPs per token (N parameters, the
tied LM head counted once as it is used once); LoRA training ~4N (forward plus the backward
pass through activations; the adapter's own weight gradients are negligible).

    python benchmarks/throughput.py [--model smollm2-135m-instruct] [--prompts 32] [--samples 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("DRIFTLAB_QUIET", "1")


def matmul_gflops(size: int = 1024, reps: int = 30) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def main() -> None:
    from driftlab.config import TrainConfig
    from driftlab.models.base import SamplingParams
    from driftlab.models.hf import HFModel
    from driftlab.tasks import build_task
    from driftlab.train.sft import train_sft

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--train-rows", type=int, default=64)
    args = ap.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    ref_before = matmul_gflops()
    model = HFModel.load(args.model, batch_size=args.batch_size)
    n_params = sum(p.numel() for p in model.model.parameters())
    task = build_task("arithmetic")
    qs = task.problems("eval", args.prompts)
    chats = [[{"role": "user", "content": task.cot_prompt(p.question)}] for p in qs]

    params = SamplingParams(n=args.samples, temperature=0.7, top_p=0.95,
                            max_new_tokens=args.max_new_tokens, seed=0)
    start = time.perf_counter()
    out = model.generate(chats, params)
    gen_s = time.perf_counter() - start
    gen_tokens = sum(c.num_tokens for cs in out for c in cs)
    gen_tps = gen_tokens / gen_s

    rows = [{"prompt": c, "completion": [{"role": "assistant", "content": cs[0].text}]}
            for c, cs in zip(chats, out)]
    rows = (rows * (args.train_rows // len(rows) + 1))[: args.train_rows]
    with tempfile.TemporaryDirectory() as tmp:
        res = train_sft(model, rows, TrainConfig(epochs=1, batch_size=8), Path(tmp) / "a", 0, "train")
    train_tps = res.tokens / res.seconds
    ref_after = matmul_gflops()
    ref = (ref_before + ref_after) / 2

    print(f"model {args.model}: {n_params / 1e6:.1f}M parameters; threads {torch.get_num_threads()}")
    print(f"fp32 matmul reference: {ref:.1f} GFLOP/s (before {ref_before:.1f}, after {ref_after:.1f})")
    print(f"{'what':<10}{'tokens':>9}{'seconds':>9}{'tok/s':>9}{'GFLOP/s':>9}{'roofline tok/s':>16}{'of roofline':>13}")
    for what, tokens, secs, tps, flops_per_tok in [
        ("sampling", gen_tokens, gen_s, gen_tps, 2 * n_params),
        ("training", res.tokens, res.seconds, train_tps, 4 * n_params),
    ]:
        achieved = tps * flops_per_tok / 1e9
        roof = ref * 1e9 / flops_per_tok
        print(f"{what:<10}{tokens:>9}{secs:>9.1f}{tps:>9.1f}{achieved:>9.1f}{roof:>16.0f}{achieved / ref:>12.1%}")
    print(f"sampling: {len(chats)} prompts x {args.samples} samples, batch {args.batch_size} sequences, "
          f"max {args.max_new_tokens} new tokens; training: {len(rows)} rows, LoRA r=16, batch 8")


if __name__ == "__main__":
    main()
