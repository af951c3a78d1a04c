"""One training process under `accelerate launch` (launch.py): `-m driftlab.train.worker JOB`.

Every rank rebuilds the round's starting model, runs the same in-process trainer (TRL's
Trainer shards the data and syncs gradients across ranks), and writes only into its own
folder of the staging area: `rankR/rank.json` (the rows this rank was fed, in order) and, for
rank 0 alone, `rank0/adapter` and `rank0/result.json`. Rank 0 also prints step events that
the controller turns into its progress bar.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from transformers import TrainerCallback

from driftlab.config import TrainConfig
from driftlab.models.hf import HFModel
from driftlab.store import read_json, read_jsonl, write_json
from driftlab.train import get_trainer
from driftlab.train.launch import MARK


class StepEvents(TrainerCallback):
    """Rank 0's training steps as lines on stdout, for the controller to stream."""

    def _emit(self, state, **event) -> None:
        if state.is_world_process_zero:
            print(MARK + json.dumps(event), flush=True)

    def on_train_begin(self, args, state, control, **kw):
        self._emit(state, event="begin", total=state.max_steps)

    def on_step_end(self, args, state, control, **kw):
        self._emit(state, event="step", step=state.global_step)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self._emit(state, event="loss", step=state.global_step, loss=float(logs["loss"]))


class RowLog:
    """Which rows of the job this rank's data loader fed it, found by their tokenized fields."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def attach(self, trainer) -> None:
        trainer.add_callback(StepEvents())
        data, collate = trainer.train_dataset, trainer.data_collator
        index: dict = {}

        def key(example: dict, cols: list[str]) -> tuple:
            return tuple(tuple(example[c]) for c in cols)

        def logged(examples: list[dict]):
            cols = sorted(c for c, v in examples[0].items() if isinstance(v, list))
            if not index:  # built on first use: the columns left after Trainer drops unused ones
                index.update({key(row, cols): i for i, row in enumerate(data)})
            self.rows.extend(index.get(key(e, cols), -1) for e in examples)
            return collate(examples)

        trainer.data_collator = logged


def main(job_path: str) -> None:
    stage = Path(job_path).parent
    job = read_json(Path(job_path))
    rank, local = int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0))
    device = f"cuda:{local}" if job["device"] == "cuda" else "cpu"
    out = stage / f"rank{rank}"
    out.mkdir(parents=True, exist_ok=True)
    model = HFModel.load(job["base"], adapters=job["adapters"], device=device)
    log = RowLog()
    result = get_trainer(job["trainer"])(
        model,
        read_jsonl(stage / "rows.jsonl"),
        TrainConfig(**job["train"]),
        out / "adapter",
        job["seed"],
        job["desc"],
        on_trainer=log.attach,
        initial_model=lambda: HFModel.load(job["base"], device=device),
        **job["context"],
    )
    write_json(
        out / "rank.json",
        {"rank": rank, "world_size": int(os.environ.get("WORLD_SIZE", 1)), "rows": log.rows},
    )
    if rank == 0:
        write_json(out / "result.json", {"stats": result.summary(), "losses": result.losses})


if __name__ == "__main__":
    main(sys.argv[1])
