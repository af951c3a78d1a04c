"""The weak-to-strong sweep (Burns et al. 2023, sec. 3), one cached unit at a time.

Per task and seed the pool is split into A and B (B into a training part and a held-out part
that only ever carries weak labels); the test split is fixed. Then:
1. weak supervisor: each ladder rung trained on A's ground truth;
2. its soft labels on B;
3. student: a stronger (or equal) rung trained on those labels, never on B's truth;
4. ceiling: the student's rung trained on B's ground truth;
5. all of them scored on test.
Each trained model is a unit (w2s/units.py), so a rerun or a larger sweep trains only what is
missing. Work goes rung by rung, so one model is in memory at a time; students need only their
supervisors' saved labels. The paper's other experiments add units (w2s/variants.py).
"""

from __future__ import annotations

from pathlib import Path

from driftlab import progress
from driftlab.w2s import variants
from driftlab.w2s.config import W2SConfig
from driftlab.w2s.units import ModelKey, Runner, Task, Units, load_tasks, make_split


def run_pipeline(cfg: W2SConfig, out: Path) -> tuple[list[Task], Units]:
    """Train every unit the config asks for; returns the tasks and the units by kind."""
    runner = Runner(cfg, out)
    tasks = load_tasks(cfg)
    units = Units()
    variant_names = ["baseline"] + (["generative"] if cfg.experiments.generative.enabled else [])
    for variant in variant_names:
        for rank, name in enumerate(cfg.ladder):
            for task in tasks:
                for seed in cfg.seeds:
                    split = make_split(task, cfg, seed)
                    base = {"task": task.spec, "seed": seed, "model": name, "variant": variant}
                    key = ModelKey(task.name, variant, name, seed)
                    units.weak[key] = runner.train_unit(
                        {**base, "role": "weak"},
                        task,
                        split,
                        split.a,
                        task.labels[split.a].astype(float),
                        "truth",
                        {"b_train": split.b_train},
                    )
                    units.ceiling[key] = runner.train_unit(
                        {**base, "role": "ceiling"},
                        task,
                        split,
                        split.b_train,
                        task.labels[split.b_train].astype(float),
                        "truth",
                    )
                    variants.students(runner, units, task, split, seed, variant, rank)
                if variant == "baseline" and cfg.experiments.prompting.enabled:
                    variants.prompting(runner, units, task, name)
            runner.rung = None
    progress.log(f"units trained: {runner.trained}, from cache: {runner.cached}")
    return tasks, units
