"""`driftlab watch`: each checkpoint a trainer writes is a round of a driftlab run.

Round 0 is the base model (`[model] name`) or, without one, the first checkpoint. Every
finished checkpoint after it is loaded (full weights, or a PEFT adapter on the base),
measured by the configured monitors and guarded like a loop round. A fired tripwire is
recorded in run.json, a stop marker is written beside the checkpoints (STOP_FILE), and the
command exits with EXIT_TRIPWIRE. Checkpoints already measured are skipped on --resume.
"""

from __future__ import annotations

import time
from pathlib import Path

from driftlab import progress
from driftlab.errors import DriftlabError
from driftlab.integrations.checkpoints import (
    Checkpoint,
    Completion,
    check_architecture,
    find,
    model_config,
)
from driftlab.integrations.settings import STOP_FILE, WatchConfig
from driftlab.integrations.supervisor import Supervisor
from driftlab.models.hf import HFModel, default_threads


class Watcher:
    def __init__(
        self,
        cfg: WatchConfig,
        folder: Path,
        out: Path,
        resume: bool = False,
        stop_file: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.folder = Path(folder)
        self.stop_file = Path(stop_file) if stop_file else self.folder / STOP_FILE
        if not self.folder.is_dir():
            raise DriftlabError(f"{self.folder} is not a folder of checkpoints")
        self.completion = Completion(cfg.watch.settle_s)
        self.out, self.resume = Path(out), resume
        self.sup: Supervisor | None = None
        self.reference: dict = model_config(_resolve(cfg.model.name)) if cfg.model.name else {}

    # ---- checks before any model is loaded -------------------------------------------------
    def validate(self, found: list[Checkpoint], ready: bool = True) -> None:
        """Fail on a checkpoint that cannot be a round; `ready=False`: only what is written."""
        base = self.cfg.model.name
        for c in found:
            if not ready and not (c.path / "config.json").is_file() and not c.is_adapter:
                continue
            if c.is_adapter and not base:
                raise DriftlabError(
                    f"{c.path} is a PEFT adapter, and the config names no base model to "
                    "apply it to: set [model] name in the watch config"
                )
            if not self.reference and not c.is_adapter:
                self.reference = model_config(c.path)  # no base: the first checkpoint is round 0
            what = f"the base model {base}" if base else "the first checkpoint"
            check_architecture(c, self.reference, what)
            if c.is_adapter and ready and base:
                check_adapter(c, base)

    # ---- the loop --------------------------------------------------------------------------
    def run(self, follow: bool) -> dict:
        default_threads()
        found = find(self.folder, self.cfg.watch.pattern)
        if not found and not follow:
            raise DriftlabError(
                f"{self.folder} holds no checkpoint folders matching "
                f"{self.cfg.watch.pattern!r} (give the trainer's output_dir)"
            )
        ready = self._ready()
        self.validate(ready)
        self.validate([c for c in found if c not in ready], ready=False)
        sup = self.sup = Supervisor(self.cfg, self.out, "watch", self.resume)
        try:
            self._loop(sup, follow)
        except (KeyboardInterrupt, Exception) as e:
            reason = (
                "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            )
            sup.store.update_run(error=reason)
            sup.finish("failed")
            raise
        return sup.finish()

    def _loop(self, sup: Supervisor, follow: bool) -> None:
        w = self.cfg.watch
        if sup.halted:  # a resumed run whose tripwire fired stays stopped
            progress.log(f"[red]already halted:[/] {sup.halted['message']}")
            return
        if (
            self.cfg.model.name and not sup.rounds()
        ):  # the base is round 0: measure it while waiting
            sup.baseline(self._load_base, checkpoint=None, step=0)
        last_new = time.monotonic()
        while True:
            measured = {r.get("checkpoint") for r in sup.rounds()}
            todo = [c for c in self._ready() if c.name not in measured]
            self.validate(todo)
            for c in todo:
                if self._measure(sup, c):
                    sup.write_stop(self.stop_file)
                    progress.log(f"stop marker: {self.stop_file}")
                    return
                last_new = time.monotonic()
            if self._finished(sup):
                return
            pending = [
                c for c in find(self.folder, w.pattern) if c.name not in measured and c not in todo
            ]
            if not follow and not pending:
                return
            if time.monotonic() - last_new > (
                w.idle_timeout_s if follow else w.settle_s + w.poll_s
            ):
                unread = (
                    f"; never finished writing: {', '.join(c.name for c in pending)}"
                    if pending
                    else ""
                )
                progress.log(
                    f"no new checkpoint for {time.monotonic() - last_new:.0f}s: stopped watching"
                    + unread
                )
                return
            time.sleep(w.poll_s if follow else min(w.poll_s, max(w.settle_s, 0.1)))

    def _ready(self) -> list[Checkpoint]:
        return [c for c in find(self.folder, self.cfg.watch.pattern) if self.completion.ready(c)]

    def _finished(self, sup: Supervisor) -> bool:
        """The last measured checkpoint is the trainer's last step (trainer_state.json says so)."""
        last = [r for r in sup.rounds() if r.get("checkpoint")]
        if not last:
            return False
        c = Checkpoint(self.folder / last[-1]["checkpoint"], last[-1]["step"])
        state = c.state() if c.path.is_dir() else {}
        return bool(state.get("max_steps")) and state.get("global_step", 0) >= state["max_steps"]

    def _measure(self, sup: Supervisor, c: Checkpoint) -> bool:
        """Measure checkpoint `c` as the next round (or round 0); True if a tripwire fired."""
        info = {"checkpoint": c.name, "step": c.step}
        if not sup.rounds():  # no base model: the first checkpoint is round 0
            sup.baseline(lambda: self._load(c), **info)
            return False
        if not c.path.is_dir():
            progress.log(f"[yellow]{c.name} was deleted before it was measured; skipped[/]")
            return False
        return bool(sup.measure(lambda: self._load(c), **info))

    # ---- models ----------------------------------------------------------------------------
    def _base(self) -> str:
        """The base model's name: only asked for where validate() has required one."""
        if not self.cfg.model.name:
            raise DriftlabError("the watch config names no base model: set [model] name")
        return self.cfg.model.name

    def _load_base(self) -> HFModel:
        m = self.cfg.model
        return HFModel.load(self._base(), device=m.device, batch_size=m.batch_size)

    def _load(self, c: Checkpoint) -> HFModel:
        m = self.cfg.model
        if c.is_adapter:
            return HFModel.load(
                self._base(), adapters=[c.path], device=m.device, batch_size=m.batch_size
            )
        return HFModel.load(
            str(c.path),
            device=m.device,
            batch_size=m.batch_size,
            tokenizer=self._tokenizer_source(c),
        )

    def _tokenizer_source(self, c: Checkpoint) -> str | None:
        """The checkpoint's own tokenizer, else the base model's, else the output folder's."""
        for where in (c.path, self.cfg.model.name, self.folder):
            if where and (Path(_resolve(str(where))) / "tokenizer_config.json").is_file():
                return None if where == c.path else str(where)
        raise DriftlabError(
            f"{c.path} holds no tokenizer, and neither does [model] name nor {self.folder}: "
            "save the tokenizer with the checkpoints (Trainer(processing_class=...))"
        )


def _resolve(name: str) -> str:
    from driftlab.models.builtin import resolve

    return resolve(name)


def check_adapter(c: Checkpoint, base: str) -> None:
    """Every LoRA matrix must fit the base model's layer it adapts (checked on meta tensors)."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    weights = c.path / "adapter_model.safetensors"
    if not weights.is_file():
        return
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(_resolve(base)))
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    with safe_open(str(weights), "pt") as f:
        for key in f.keys():
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            module = key.removeprefix("base_model.model.").split(".lora_")[0]
            target = shapes.get(f"{module}.weight")
            got = tuple(f.get_slice(key).get_shape())
            fits = target is not None and (
                got[1] == target[1] if ".lora_A." in key else got[0] == target[0]
            )
            if not fits:
                raise DriftlabError(
                    f"{c.path} is an adapter for another architecture than the base model "
                    f"{base}: {key} has shape {list(got)}, the base layer "
                    f"{list(target) if target else 'does not exist'}"
                )
