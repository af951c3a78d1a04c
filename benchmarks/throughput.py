"""Sampling and LoRA-training throughput on SmolLM2-135M against this machine's fp32 roofline.

Machines here are noisy, so every figure is printed beside references measured in the same
run: dense fp32 matmul GFLOP/s, and the old sampler (`model.generate`) on the same prompts.
A forward pass costs ~2N FLOPs per token (N parameters, the tied LM head counted once as it
is used once); LoRA training ~4N (forward plus the backward pass through activations; the
adapter's own weight gradients are negligible).

The sampling workload is the quickstart preset's LMSI round: its questions with its few-shot
prompts, samples per question, temperature, top-p, token budget and batch size. llama.cpp's
server (llama-cpp-python, the test extra) samples a subset of the same chats one sequence at a
time; vLLM is reported where installed (its CPU engine is not in the test extra).

    python benchmarks/throughput.py [--prompts 20] [--server-prompts 2] [--train-rows 64]
        [--ref-rows 64]

`--ref-rows` samples the same prompts a second time with that many rows per decode step (the
preset's batch before issue 18's rows lever): the texts must be the same, only the speed not.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("DRIFTLAB_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.llama_server


def matmul_gflops(size: int = 1024, reps: int = 30) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def measure(model, chats, params) -> tuple[int, float, list]:
    start = time.perf_counter()
    out = model.generate(chats, params)
    seconds = time.perf_counter() - start
    return sum(c.num_tokens for cs in out for c in cs), seconds, out


def quickstart_workload(prompts: int | None):
    """The quickstart's round-1 sampling: its chats and SamplingParams."""
    from driftlab.config import load_config
    from driftlab.loops.base import LoopTask
    from driftlab.loops.lmsi import LMSIConfig, fewshot_turns
    from driftlab.models.base import SamplingParams

    cfg = load_config(preset="quickstart")
    task, loop = cfg.build_task(), cfg.loop_settings()
    assert isinstance(loop, LMSIConfig)  # the quickstart's loop
    shown = LoopTask(
        task.name, task.cot_prompt, task.direct_prompt, task.extract, tuple(task.exemplars)
    )
    prefix = fewshot_turns(shown, direct=False, limit=loop.exemplars) if loop.sample_fewshot else []
    qs = task.problems("train", prompts or cfg.task.train_size)
    chats = [[*prefix, {"role": "user", "content": task.cot_prompt(q.question)}] for q in qs]
    params = SamplingParams(
        n=loop.samples,
        temperature=loop.temperature,
        top_p=loop.top_p,
        max_new_tokens=loop.max_new_tokens,
        seed=cfg.seed,
    )
    return cfg, chats, params


def server_rate(chats, params, threads: int) -> str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "not installed"
    from driftlab.models import load_generator
    from driftlab.models.base import SamplingParams
    from tests.llama_server import MODEL_ALIAS, LlamaServer

    with LlamaServer(threads=threads) as url:
        server = load_generator(f"openai:{MODEL_ALIAS}@{url}", concurrency=1, timeout=600)
        server.generate(chats[:1], SamplingParams(n=1, temperature=0, max_new_tokens=4))
        tokens, secs, _ = measure(server, chats, params)
    return (
        f"{tokens / secs:.1f} tok/s ({tokens} tokens in {secs:.1f} s, Q4_1 GGUF, "
        "1 sequence at a time)"
    )


def main() -> None:
    from driftlab.models.hf import HFModel
    from driftlab.train.sft import train_sft

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, help="default: the quickstart's train_size")
    ap.add_argument("--server-prompts", type=int, default=2, help="chats sent to llama.cpp")
    ap.add_argument("--train-rows", type=int, default=64)
    ap.add_argument("--skip-old", action="store_true", help="do not run the old sampler")
    ap.add_argument("--ref-rows", type=int, default=64, help="0: no reference batch size")
    args = ap.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    cfg, chats, params = quickstart_workload(args.prompts)
    ref_before = matmul_gflops()
    model = HFModel.load(cfg.model.name, batch_size=cfg.model.batch_size)
    n_params = sum(p.numel() for p in model.model.parameters())
    load_rss = peak_rss_gb()

    rows = []  # (what, tokens, seconds, flops per token)
    new_tokens, new_s, out = measure(model, chats, params)
    rows.append((f"new, {cfg.model.batch_size} rows", new_tokens, new_s, 2 * n_params))
    sample_rss = peak_rss_gb()
    same = None
    if args.ref_rows and args.ref_rows != cfg.model.batch_size:
        model.batch_size = args.ref_rows
        ref_tokens, ref_s, ref_out = measure(model, chats, params)
        model.batch_size = cfg.model.batch_size
        rows.append((f"new, {args.ref_rows} rows", ref_tokens, ref_s, 2 * n_params))
        same = sum(a.text == b.text for x, y in zip(out, ref_out) for a, b in zip(x, y))
    if not args.skip_old:  # the sampler before issue 18, at the batch size it ran with
        old_rows = args.ref_rows or cfg.model.batch_size
        model.decoder, model.batch_size = "generate", old_rows
        old_tokens, old_s, _ = measure(model, chats, params)
        model.decoder, model.batch_size = "loop", cfg.model.batch_size
        rows.append((f"old, {old_rows} rows", old_tokens, old_s, 2 * n_params))
    old_rss = peak_rss_gb()

    # LMSI trains on the question alone (its "cot" format), the first sampled path as the answer
    train = [
        {"prompt": c[-1:], "completion": [{"role": "assistant", "content": cs[0].text}]}
        for c, cs in zip(chats, out)
    ]
    train = (train * (args.train_rows // len(train) + 1))[: args.train_rows]
    tcfg = cfg.train.model_copy(update={"epochs": 1})
    with tempfile.TemporaryDirectory() as tmp:
        res = train_sft(model, train, tcfg, Path(tmp) / "a", 0, "train")
    rows.append(("training", res.tokens, res.seconds, 4 * n_params))
    train_rss = peak_rss_gb()
    ref_after = matmul_gflops()
    ref = (ref_before + ref_after) / 2
    del model
    server = server_rate(chats[: args.server_prompts], params, torch.get_num_threads())
    vllm = "installed, not run here" if importlib.util.find_spec("vllm") else "not installed"

    threads = torch.get_num_threads()
    print(f"model {cfg.model.name}: {n_params / 1e6:.1f}M parameters; threads {threads}")
    print(
        f"fp32 matmul reference: {ref:.1f} GFLOP/s (before {ref_before:.1f}, after {ref_after:.1f})"
    )
    print(
        f"sampling: quickstart round 1, {len(chats)} few-shot prompts x {params.n} samples, "
        f"T={params.temperature}, top-p {params.top_p}, max {params.max_new_tokens} new tokens, "
        f"rows per step {cfg.model.batch_size} (preset); training: {len(train)} rows, LoRA "
        f"r={tcfg.lora_rank}, batch {tcfg.batch_size}, 1 epoch"
    )
    print(
        f"{'what':<15}{'tokens':>8}{'seconds':>9}{'tok/s':>8}{'GFLOP/s':>9}{'roofline tok/s':>16}"
        f"{'of roofline':>13}"
    )
    for what, tokens, secs, flops in rows:
        tps = tokens / secs
        print(
            f"{what:<15}{tokens:>8}{secs:>9.1f}{tps:>8.1f}{tps * flops / 1e9:>9.1f}"
            f"{ref * 1e9 / flops:>16.0f}{tps * flops / 1e9 / ref:>12.1%}"
        )
    if same is not None:
        print(
            f"sampling with {cfg.model.batch_size} / {args.ref_rows} rows per step: "
            f"{(new_tokens / new_s) / (ref_tokens / ref_s):.2f}x tokens/s, "
            f"{same} of {len(chats) * params.n} texts identical"
        )
    if not args.skip_old:
        print(f"sampling new / old: {(new_tokens / new_s) / (old_tokens / old_s):.2f}x tokens/s")
    print(
        f"peak RSS: {load_rss:.2f} GB after loading, {sample_rss:.2f} GB after new sampling, "
        f"{old_rss:.2f} GB after old sampling, {train_rss:.2f} GB after training"
    )
    print(f"llama.cpp server, {min(args.server_prompts, len(chats))} of the prompts: {server}")
    print(f"vLLM: {vllm}")


if __name__ == "__main__":
    main()
