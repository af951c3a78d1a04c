"""One supervised run: rounds measured from a trainer's policy, guarded, stored like a loop run.

`driftlab watch` and the TRL callback both drive a Supervisor: round 0 is the starting model,
every later round one checkpoint or training step. The run directory, run.json's round table,
report.html and the guard are those of `driftlab run` (driftlab.measure); what differs is what
a fired tripwire does: another process trains, so the supervisor obeys `guard.decide` as the
engine does, and records either action as a halt that names the final round (for
`action = "rollback"`, the best so far) and writes a stop marker any script can poll.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from driftlab import progress
from driftlab.config import dump_config
from driftlab.experiment import step_seed
from driftlab.guard import Decision, decide
from driftlab.integrations.settings import WatchConfig
from driftlab.measure import Measurer, add_result
from driftlab.models.base import Generator
from driftlab.store import RunStore, write_json


class Supervisor:
    def __init__(self, cfg: WatchConfig, out: Path, method: str, resume: bool = False) -> None:
        self.cfg = cfg
        if resume and (Path(out) / "run.json").exists():
            self.store = RunStore.open(out)
            self.store.update_run(status="running", error=None)
        else:
            self.store = RunStore.create(
                out,
                dump_config(cfg),
                {"name": cfg.name, "method": method, "model": cfg.model.name, "seed": cfg.seed},
            )
        self.measurer = Measurer(cfg, self.store, lambda k: step_seed(cfg.seed, k, "measure"))
        rounds = self.rounds()
        self.head = max((r["round"] for r in rounds if r.get("promoted")), default=0)

    def rounds(self) -> list[dict[str, Any]]:
        return self.store.read_run()["rounds"]

    @property
    def halted(self) -> dict | None:
        return self.store.read_run().get("halt")

    def baseline(self, model: Callable[[], Generator], **info: Any) -> None:
        progress.log(f"[bold]round 0[/] ({_what(info)})")
        self.measurer.baseline(model, **info)

    def measure(self, model: Callable[[], Generator], **info: Any) -> list[dict]:
        """Measure the next round; return the tripwires it fired (recorded as the run's halt)."""
        k = max(r["round"] for r in self.rounds()) + 1
        progress.log(f"[bold]round {k}[/] ({_what(info)})")
        row: dict[str, Any] = {"round": k, "parent": self.head, "status": "measured", **info}
        for name, res in self.measurer.measure(k, model).items():
            add_result(row, name, res)
        hits = self.measurer.hits(k, row, self.head)
        decision = decide(k, hits, self.cfg.guard.action, self.head, self.measurer.best_round)
        self.head = decision.head
        row.update(decision.promotion())
        # the halt and the round's completion mark in one write: a kill leaves both or neither
        stopped = decision.action != "continue"
        self.store.record_round(row, **(self._halt(decision) if stopped else {}))
        return hits

    def _halt(self, decision: Decision) -> dict[str, Any]:
        """What run.json records when a round fires a tripwire: the guard's decision as a halt
        (on "rollback", its final round is the best so far: never the round that fired)."""
        best = next(r for r in self.rounds() if r["round"] == decision.head)
        where = f" ({best['checkpoint']})" if best.get("checkpoint") else ""
        progress.log(f"[red]tripwire:[/] {decision.reason}; best round {decision.head}{where}")
        halt = decision.stop(final_checkpoint=best.get("checkpoint"))
        return {"halt": halt, "status": "halted"}

    def write_stop(self, path: Path) -> None:
        """The stop marker: the halt record, for a trainer or script to poll."""
        halt = self.halted
        if halt is None:
            raise RuntimeError("no tripwire has fired: there is nothing to stop")
        write_json(path, {**halt, "run": str(self.store.root)})

    def finish(self, status: str | None = None) -> dict[str, Any]:
        """Record how the run ended and release the directory's lock (one writer at a time)."""
        try:
            return self.store.update_run(
                status=status or ("halted" if self.halted else "completed")
            )
        finally:
            self.store.close()


def _what(info: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in info.items() if k in ("checkpoint", "step"))
