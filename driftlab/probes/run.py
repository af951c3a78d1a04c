"""`driftlab probes run`: score one model on probe sets, optionally against a baseline model.

The same monitor classes as `driftlab run` do the scoring, so a probe figure means the
same thing in both places; with a baseline, its results play round 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftlab.monitors import MONITORS, MeasureContext, MonitorResult
from driftlab.store import write_json

MONITOR_OF = {"bias": "bias", "semantic": "semantic_drift", "reflectivity": "reflectivity"}


def run_probes(
    model_spec: str,
    kinds: list[str],
    out: Path,
    baseline: str | None = None,
    sets: dict[str, str] | None = None,
    judge: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    from driftlab.models.spec import load_model
    from driftlab.probes.sets import check_kind

    sets = sets or {}
    monitors = {}
    for kind in kinds:
        check_kind(kind)
        name = MONITOR_OF[kind]
        cls = MONITORS.get(name)
        body: dict[str, Any] = {"path": sets.get(kind), "enabled": True}
        if judge and "judge" in cls.Config.model_fields:
            body["judge"] = judge
        monitors[kind] = cls(cls.Config(**body))
    results: dict[str, Any] = {"model": model_spec, "baseline": baseline, "probes": {}}
    base: dict[str, MonitorResult] = {}
    if baseline:
        ctx = MeasureContext(0, load_model(baseline), None, [], seed)
        base = {k: m.fit(None).score(ctx) for k, m in monitors.items()}
    ctx = MeasureContext(1 if baseline else 0, load_model(model_spec), None, [], seed)
    for kind, mon in monitors.items():
        res = mon.fit(base.get(kind)).score(ctx)
        results["probes"][kind] = {
            "metrics": res.metrics,
            "findings": [f.to_dict() for f in res.findings],
            "records": res.records,
        }
        if kind in base:
            results["probes"][kind]["baseline_metrics"] = base[kind].metrics
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "probes.json", results)
    return results
