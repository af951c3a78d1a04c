"""`DriftlabCallback`: driftlab's monitors and tripwires inside a transformers / TRL Trainer.

    from driftlab.integrations.trl import DriftlabCallback
    cb = DriftlabCallback("watch.toml", out="runs/grpo", every_steps=10)
    trainer = GRPOTrainer(..., callbacks=[cb])
    trainer.train()            # stops early if a tripwire fires; cb.fired says which rule

Round 0 is the policy before the first step; then every `every_steps` steps (or at every
checkpoint save when `every_steps` is None) the current policy is measured in process with
the configured monitors and guarded (driftlab.integrations.supervisor). The trainer's latest
logged values (loss, reward, ...) are recorded beside the monitors as `train.*`. Sampling
for the monitors must not change training, so every random generator's state (Python, NumPy,
torch, CUDA) and the model's train/eval mode are restored afterwards.

With `config=None` nothing is measured here: the callback only polls the stop marker that a
`driftlab watch` process writes (for models too large to measure beside training).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from driftlab import progress
from driftlab.integrations.settings import STOP_FILE, WatchConfig, load_watch_config
from driftlab.integrations.supervisor import Supervisor
from driftlab.measure import flatten
from driftlab.models.hf import HFModel, prepare_tokenizer
from driftlab.store import read_json


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the block without moving any random generator that training draws from."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class DriftlabCallback(TrainerCallback):
    """Measure the policy during training; stop the Trainer when a tripwire fires.

    After training: `fired` (the rules that fired, [] if none), `stopped_at` (the step),
    `best_round` and `best_checkpoint` (with guard action "rollback": the best round's
    checkpoint folder, if the trainer saved one at that step).
    """

    def __init__(
        self,
        config: WatchConfig | str | Path | None,
        out: str | Path | None = None,
        every_steps: int | None = None,
        stop_file: str | Path | None = None,
        resume: bool = False,
    ) -> None:
        if config is not None and not isinstance(config, WatchConfig):
            config = load_watch_config(config)
        if config is not None and out is None:
            out = Path("runs") / config.name
        if every_steps is not None and every_steps < 1:
            raise ValueError(
                "every_steps must be at least 1 (None: measure at each checkpoint save)"
            )
        self.cfg, self.out, self.every_steps, self.resume = config, out, every_steps, resume
        self.stop_file = Path(stop_file) if stop_file else None
        self.sup: Supervisor | None = None
        self.fired: list[dict] = []
        self.stopped_at: int | None = None
        self.best_round: int | None = None
        self.best_checkpoint: str | None = None
        self._logs: dict[str, float] = {}
        self._tokenizer = None
        self._began = 0.0
        self._due: int | None = None  # a step to measure once the trainer has logged it

    # ---- trainer events --------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        self._began = time.time()
        if self.stop_file is None:
            self.stop_file = Path(args.output_dir) / STOP_FILE
        if self.cfg is None or not state.is_world_process_zero:
            return
        if (
            self.every_steps is None
            and getattr(args.save_strategy, "value", args.save_strategy) == "no"
        ):
            raise ValueError(
                "DriftlabCallback(every_steps=None) measures at each checkpoint save, "
                "and this trainer saves none (save_strategy 'no'): give every_steps"
            )
        tok = getattr(processing_class, "tokenizer", processing_class)  # a processor wraps one
        # a copy: sampling sets padding side and pad token, which stay the trainer's own
        self._tokenizer = prepare_tokenizer(copy.deepcopy(tok))
        assert self.out is not None  # set with the config
        sup = self.sup = Supervisor(self.cfg, Path(self.out), "callback", self.resume)
        if not sup.rounds():
            with self._policy(model) as policy:
                sup.baseline(lambda: policy, step=state.global_step)

    def on_step_end(self, args, state, control, model=None, **kw):
        if self.every_steps and state.global_step % self.every_steps == 0:
            if control.should_log:  # the trainer logs this step next: measure beside its logs
                self._due = state.global_step
            else:
                self._measure(args, state, control, model)
        self._poll(state, control)

    def on_log(self, args, state, control, logs=None, model=None, **kw):
        self._logs.update(
            {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        )
        if self._due == state.global_step:
            self._due = None
            self._measure(args, state, control, model)

    def on_save(self, args, state, control, model=None, **kw):
        if self.every_steps is None:
            self._measure(args, state, control, model)

    def on_train_end(self, args, state, control, **kw):
        if self.sup is not None:
            self.sup.finish()
            from driftlab.report import write_report

            try:
                write_report(self.sup.store.root)
            except Exception as e:  # noqa: BLE001  (the report must not fail the training)
                progress.log(f"[yellow]report not written:[/] {type(e).__name__}: {e}")

    # ---- measuring -------------------------------------------------------------------------
    def _measure(self, args, state, control, model) -> None:
        sup = self.sup
        if sup is None or self.fired:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        info: dict[str, Any] = {"step": state.global_step, **flatten("train", self._logs)}
        if ckpt.is_dir() or control.should_save:  # saved now, or right after this step's log
            info["checkpoint"] = ckpt.name
        with self._policy(model) as policy:
            hits = sup.measure(lambda: policy, **info)
        if hits:
            self._stop(args, state, control, hits, sup)

    @contextmanager
    def _policy(self, model) -> Iterator[HFModel]:
        """The training model as a driftlab Generator, sampled in eval mode with RNG preserved."""
        was_training = model.training
        model.eval()
        try:
            with preserved_rng():
                assert self.cfg is not None  # measuring needs a config
                m = self.cfg.model
                yield HFModel(model, self._tokenizer, m.name or "policy", m.batch_size)
        finally:
            model.train(was_training)

    def _stop(self, args, state, control, hits: list[dict], sup: Supervisor) -> None:
        control.should_training_stop = True
        self.fired, self.stopped_at = hits, state.global_step
        halt = sup.halted
        assert halt is not None  # measure() recorded the halt it reports
        self.best_round = halt["final_round"]
        if halt.get("final_checkpoint"):
            self.best_checkpoint = str(Path(args.output_dir) / halt["final_checkpoint"])

    def _poll(self, state, control) -> None:
        """Stop when a `driftlab watch` process (or any script) wrote the stop marker."""
        stop = self.stop_file  # set at the start of training
        if self.fired or stop is None or not stop.is_file() or stop.stat().st_mtime < self._began:
            return  # a marker older than this training is a past run's
        marker = read_json(stop)
        control.should_training_stop = True
        self.fired, self.stopped_at = marker.get("hits", []), state.global_step
        self.best_round = marker.get("final_round")
        progress.log(f"[red]stop marker {self.stop_file}:[/] {marker.get('message', '')}")
