"""Measure a round and check its tripwires: what `driftlab run`, `driftlab watch` and the
TRL callback share, so a loop round, a checkpoint and a training step are judged alike.

Round k's monitor results go to rounds/NNN/metrics.json (the artifact is the completion
mark: a resumed run re-measures nothing) and its summary row to run.json, where the guard
compares it with round 0 and the last promoted round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from driftlab.config import MeasuredConfig
from driftlab.models.base import Generator
from driftlab.monitors import MONITORS, MeasureContext, MonitorResult
from driftlab.steps import once
from driftlab.store import METRICS, RunStore


def flatten(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}


def add_result(row: dict[str, Any], name: str, res: MonitorResult) -> None:
    """A monitor's metrics into a run.json row, with their intervals ("ci": metric -> [lo,
    hi]) and paired tests against round 0 ("tests"), which the report and round table read."""
    row.update(flatten(name, res.metrics))
    words = [str(t["text"]) for t in res.tables.get("changed", []) if t.get("text")]
    if words:  # what changed, in words, for the round table (the diff monitor's dimensions)
        row[f"{name}.changed"] = "; ".join(words)
    ci = {
        f"{name}.{k}": [v["lo"], v["hi"]]
        for k, v in res.intervals.items()
        if k in res.metrics and v.get("lo") is not None
    }
    # the probe monitors report their own intervals as metrics X_low and X_high
    for k in res.metrics:
        lo, hi = res.metrics.get(f"{k}_low"), res.metrics.get(f"{k}_high")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            ci.setdefault(f"{name}.{k}", [lo, hi])
    if ci:
        row.setdefault("ci", {}).update(ci)
    if res.tests:
        row.setdefault("tests", {}).update({f"{name}.{k}": v for k, v in res.tests.items()})


class Measurer:
    """The configured monitors and guard over one run directory."""

    def __init__(
        self, cfg: MeasuredConfig, store: RunStore | None, seed_of: Callable[[int], int]
    ) -> None:
        self.cfg = cfg
        self._store = store  # None until Experiment.start has created the run directory
        self.seed_of = seed_of  # round -> measurement seed
        self.task = cfg.build_task()
        self.monitors = {n: MONITORS.get(n)(c) for n, c in cfg.monitor_settings().items()}
        self.eval_set = self.task.problems("eval", cfg.task.eval_size)

    @property
    def store(self) -> RunStore:
        if self._store is None:
            raise RuntimeError("the run directory is not created yet")
        return self._store

    @store.setter
    def store(self, store: RunStore) -> None:
        self._store = store

    def measure(self, k: int, model: Callable[[], Generator]) -> dict[str, MonitorResult]:
        """Round k's monitor results; `model()` is called only if they are not stored yet."""
        results: dict[str, MonitorResult] = {}

        def score() -> dict[str, Any]:
            ctx = MeasureContext(k, model(), self.task, self.eval_set, self.seed_of(k))
            for name, mon in self.monitors.items():
                if k == 0:
                    mon.fit(None)
                results[name] = mon.score(ctx)
            return {
                "round": k,
                "monitors": {n: r.to_dict() for n, r in results.items()},
                "findings": [f.to_dict() for r in results.values() for f in r.findings],
            }

        doc, stored = once(self.store.artifact(k, METRICS), score)
        if not stored:
            return results
        return {n: MonitorResult.from_dict(d) for n, d in doc["monitors"].items()}

    def baseline(self, model: Callable[[], Generator], **info: Any) -> dict[str, MonitorResult]:
        """Measure (or reload) round 0, record its summary row, and fit the monitors on it."""
        results = self.measure(0, model)
        if self.summary(0) is None:
            row = {"round": 0, "status": "baseline", "promoted": True, "head": 0, **info}
            for name, res in results.items():
                add_result(row, name, res)
            self.store.record_round(row)
        for name, mon in self.monitors.items():
            mon.fit(results.get(name))
        return results

    def summary(self, k: int) -> dict[str, Any] | None:
        return next((r for r in self.store.read_run()["rounds"] if r["round"] == k), None)

    def hits(self, k: int, current: dict[str, Any], head: int) -> list[dict]:
        """The tripwires round k's summary fires, against round 0 and the promoted round `head`."""
        rounds = {r["round"]: r for r in self.store.read_run()["rounds"]}
        found = [
            h
            for rule in self.cfg.guard.parsed()
            if (h := rule.check(current, rounds[0], rounds[head])) is not None
        ]
        for h in found:
            h["round"] = k
        return found

    def best_round(self) -> int:
        """The best of round 0 and the promoted rounds by the guard's `best_metric`."""
        g = self.cfg.guard
        candidates = [
            r for r in self.store.read_run()["rounds"] if r["round"] == 0 or r.get("promoted")
        ]
        worst = float("-inf") if g.best_mode == "max" else float("inf")
        pick = max if g.best_mode == "max" else min
        return pick(candidates, key=lambda r: r.get(g.best_metric, worst))["round"]
