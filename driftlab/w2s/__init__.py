"""Weak-to-strong generalization (Burns et al. 2023) on an offline model ladder: `driftlab w2s`.

A weak model trained on ground truth labels data for a stronger one; how much of the gap
between the weak model and the strong model trained on truth does the student recover (PGR)?
Modules: config (TOML), tasks, models (classifier heads), losses, train, pipeline (cached
units), experiments (the talk's switches), metrics (PGR, CIs, early stopping), results.
"""

from __future__ import annotations

import time
from pathlib import Path

from driftlab.store import _atomic_write, read_json, write_json
from driftlab.w2s.config import W2SConfig, dump, load_w2s_config

__all__ = ["W2SConfig", "load_w2s_config", "run_w2s"]


def run_w2s(cfg: W2SConfig, out: Path) -> dict:
    """Train every unit the config asks for (cached ones skipped); write and return results.json."""
    from driftlab.w2s.pipeline import model_info_path, run_pipeline
    from driftlab.w2s.results import build_results

    out = Path(out)
    start = time.perf_counter()
    text = dump(cfg)
    _atomic_write(out / "config.toml", text)
    tasks, units = run_pipeline(cfg, out)
    infos = []
    for rank, name in enumerate(cfg.ladder):
        path = model_info_path(out / "units", name)
        if not path.exists():  # every unit came from cache: read the model's size without training
            from driftlab.w2s.models import load_rung

            write_json(path, load_rung(name, cfg.model).info)
        info = read_json(path)
        infos.append({"rank": rank, **info})
    results = build_results(
        cfg, tasks, units, infos, time.perf_counter() - start, cfg.model_dump(mode="json")
    )
    write_json(out / "results.json", results)
    return results
