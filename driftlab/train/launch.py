"""Training across processes: the round loop stays here, only training goes to `accelerate launch`.

The controller (the process running the round loop) writes a job into a staging folder outside
the run directory, starts `accelerate launch -m driftlab.train.worker JOB` as a subprocess with
an accelerate config written for this job (never the user's default config), streams the
workers' output and step progress, then checks what they left: one result, one log per rank,
and exactly one adapter (rank 0's). Only then does the adapter go to the `adapter_dir` it was
given, which the experiment publishes atomically: the run directory keeps a single writer.

Each worker rebuilds the round's starting model from the base and its lineage of adapters, so
nothing the controller holds in memory crosses the process boundary. On CPU the processes
meet over gloo (DDP); on GPUs a user's accelerate YAML (docs/accelerate/) picks DeepSpeed/FSDP.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftlab import progress
from driftlab.config import TrainConfig
from driftlab.errors import DriftlabError
from driftlab.models.hf import HFModel
from driftlab.models.local_server import free_port
from driftlab.store import read_json, write_json, write_jsonl

MARK = "@@driftlab-train "  # a worker's stdout line carrying a progress event (JSON follows)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class LaunchedResult:
    """What rank 0 measured (steps, losses, ...), plus how the work was spread over the ranks."""

    stats: dict[str, Any]
    losses: list[float]
    ranks: list[dict[str, Any]] = field(default_factory=list)
    streamed_steps: int = 0  # step events that reached the controller while the workers ran

    def summary(self) -> dict[str, Any]:
        return {
            **self.stats,
            "processes": len(self.ranks),
            "streamed_steps": self.streamed_steps,
            "adapters_written": sum(r["wrote_adapter"] for r in self.ranks),
            "rank_rows": [r["rows"] for r in self.ranks],
        }


def launched(trainer: str, processes: int, accelerate_config: str | None = None) -> Callable:
    """A trainer with the in-process signature that runs `trainer` in `processes` workers."""

    def train(
        model: HFModel,
        rows: list[dict],
        cfg: TrainConfig,
        adapter_dir: Path,
        seed: int,
        desc: str,
        lineage: Sequence[Path] = (),
        initial_model=None,
        **context,
    ) -> LaunchedResult:
        # initial_model is a loader in this process; a worker loads model_0 itself from `base`
        gpu = model.device.type == "cuda"
        job = {
            "trainer": trainer,
            "base": model.name,
            "device": "cuda" if gpu else "cpu",
            "adapters": [str(Path(a).resolve()) for a in lineage],
            "train": cfg.model_dump(mode="json"),
            "seed": seed,
            "desc": desc,
            "context": context,
        }
        with tempfile.TemporaryDirectory(prefix="driftlab-launch-") as tmp:
            stage = Path(tmp)
            write_jsonl(stage / "rows.jsonl", rows)
            write_json(stage / "job.json", job)
            with _off_gpu(model):  # on a GPU the controller's copy would crowd rank 0
                streamed = run_workers(stage, processes, accelerate_config, desc, gpu)
            result = collect(stage, processes)
            result.streamed_steps = streamed
            shutil.copytree(stage / "rank0" / "adapter", adapter_dir, dirs_exist_ok=True)
        model.merge_adapter(adapter_dir)  # the controller's model becomes the trained one
        return result

    return train


def accelerate_args(stage: Path, processes: int, user_config: str | None, gpu: bool) -> list[str]:
    """`accelerate launch` arguments: the user's YAML, or one written here for this job."""
    port = ["--main_process_port", str(free_port())]
    if user_config:
        return ["--config_file", user_config, "--num_processes", str(processes), *port]
    # accelerate starts torchrun for MULTI_GPU; with use_cpu the ranks meet over gloo (DDP on CPU)
    lines = [
        "compute_environment: LOCAL_MACHINE",
        "distributed_type: MULTI_GPU",
        f"num_processes: {processes}",
        "num_machines: 1",
        "machine_rank: 0",
        "mixed_precision: 'no'",
        f"use_cpu: {str(not gpu).lower()}",
        "rdzv_backend: static",
        "same_network: true",
        "dynamo_config: {}",
    ]
    (stage / "accelerate.yaml").write_text("\n".join(lines) + "\n")
    return ["--config_file", str(stage / "accelerate.yaml"), *port]


def run_workers(stage: Path, processes: int, user_config: str | None, desc: str, gpu: bool) -> int:
    """Run the workers to the end, streaming their output; the number of step events seen."""
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *accelerate_args(stage, processes, user_config, gpu),
        "-m",
        "driftlab.train.worker",
        str(stage / "job.json"),
    ]
    env = {**os.environ, "DRIFTLAB_QUIET": "1", "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    tail: collections.deque[str] = collections.deque(maxlen=40)
    steps = 0
    progress.log(f"  {desc}: {processes} processes (accelerate launch)")
    with contextlib.ExitStack() as bars:
        advance = None
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )  # own group: stopped whole
        assert proc.stdout is not None  # stdout=PIPE
        try:
            for line in proc.stdout:
                if line.startswith(MARK):
                    event = json.loads(line[len(MARK) :])
                    if event["event"] == "begin":
                        advance = bars.enter_context(progress.task(desc, event["total"], "steps"))
                    elif event["event"] == "step":
                        steps += 1
                        if advance is not None:
                            advance(1)
                    continue
                tail.append(line)
                if not progress.quiet():
                    sys.stderr.write(line)
            rc = proc.wait()
        except BaseException:
            _stop(proc)
            raise
    if rc != 0:
        raise DriftlabError(
            f"{desc}: the training processes failed (exit {rc}); their last "
            "output:\n" + "".join(tail).rstrip()
        )
    return steps


def collect(stage: Path, processes: int) -> LaunchedResult:
    """Check the workers' staging folder: every rank reported, rank 0 alone wrote an adapter."""
    logs = sorted(stage.glob("rank*/rank.json"))
    if len(logs) != processes:
        raise DriftlabError(f"training: {len(logs)} of {processes} processes reported")
    ranks = sorted((read_json(p) for p in logs), key=lambda r: r["rank"])
    for r in ranks:
        adapter = stage / f"rank{r['rank']}" / "adapter"
        r["wrote_adapter"] = adapter.exists() and any(adapter.iterdir())
    missing = [n for n in ADAPTER_FILES if not (stage / "rank0" / "adapter" / n).is_file()]
    if missing:
        raise DriftlabError(f"training: rank 0 wrote no adapter (missing {', '.join(missing)})")
    if sum(r["wrote_adapter"] for r in ranks) != 1:
        raise DriftlabError("training: more than one process wrote an adapter")
    done = read_json(stage / "rank0" / "result.json")
    return LaunchedResult(done["stats"], done["losses"], ranks)


@contextlib.contextmanager
def _off_gpu(model: HFModel):
    import torch

    device = model.device
    if device.type != "cuda":
        yield
        return
    model.model.to("cpu")
    torch.cuda.empty_cache()
    try:
        yield
    finally:
        model.model.to(device)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
