"""The weak-to-strong pipeline (Burns et al. 2023, sec. 3), one cached unit at a time.

Per task and seed the pool is split into A and B (B into a training part and a held-out part
that only ever carries weak labels); the test split is fixed. Then:
1. weak supervisor: each ladder rung trained on A's ground truth;
2. its soft labels on B;
3. student: a stronger (or equal) rung trained on those labels, never on B's truth;
4. ceiling: the student's rung trained on B's ground truth;
5. all of them scored on test.
Each trained model is a unit saved as units/KEY.json, KEY a hash of every setting it depends
on, so a rerun or a larger sweep trains only what is missing. Work goes rung by rung, so one
model is in memory at a time; students need only their supervisors' saved labels.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from driftlab import progress
from driftlab.errors import ConfigError
from driftlab.store import read_json, write_json
from driftlab.w2s import train as trainer
from driftlab.w2s.config import W2SConfig
from driftlab.w2s.losses import make_loss, xent
from driftlab.w2s.models import Rung, load_rung
from driftlab.w2s.tasks import TaskData, build_task


@dataclass
class Split:
    a: list[int]
    b_train: list[int]
    b_val: list[int]
    test: list[int]


@dataclass
class Task:
    spec: dict
    data: TaskData
    labels: np.ndarray  # truth for pool + test, in feature index order
    texts: list[str]
    inputs: list[str]  # what a classifier reads: the text, then the task's question, so that a
    # decoder's last token (the one pooled) has read the whole text *and* what is asked of it
    groups: list[str]
    n_pool: int

    @property
    def name(self) -> str:
        return self.data.name


def load_tasks(cfg: W2SConfig) -> list[Task]:
    out = []
    for spec in cfg.tasks:
        data = build_task(spec)
        test = data.test[: cfg.data.n_test]
        if len(data.pool) < cfg.data.n_a + cfg.data.n_b:
            raise ConfigError(
                f"task {data.name}: its pool has {len(data.pool)} items, fewer than "
                f"data.n_a + data.n_b = {cfg.data.n_a + cfg.data.n_b}"
            )
        if len(test) < 4:
            raise ConfigError(f"task {data.name}: only {len(test)} test items")
        items = data.pool + test
        out.append(
            Task(
                spec.model_dump(),
                data,
                np.array([it.label for it in items]),
                [it.text for it in items],
                [f"{it.text}\n{data.question}" for it in items],
                [it.group for it in items],
                len(data.pool),
            )
        )
    return out


def make_split(task: Task, cfg: W2SConfig, seed: int) -> Split:
    """A and B drawn from the pool by seed; test fixed. Disjoint by construction and checked."""
    rng = np.random.default_rng([seed, int(hashlib.sha256(task.name.encode()).hexdigest()[:8], 16)])
    perm = rng.permutation(task.n_pool).tolist()
    a, b = perm[: cfg.data.n_a], perm[cfg.data.n_a : cfg.data.n_a + cfg.data.n_b]
    n_val = int(round(cfg.data.val_frac * len(b)))
    split = Split(a, b[n_val:], b[:n_val], list(range(task.n_pool, len(task.texts))))
    check_hygiene(split)
    return split


def check_hygiene(split: Split, train_idx: list[int] | None = None) -> None:
    """No item is in two splits, and a student never trains outside B's training part."""
    sets = [set(split.a), set(split.b_train), set(split.b_val), set(split.test)]
    if sum(map(len, sets)) != len(set().union(*sets)):
        raise RuntimeError("split hygiene: splits overlap")
    if train_idx is not None and not set(train_idx) <= sets[1]:
        raise RuntimeError("split hygiene: a student trains on items outside B")


def model_info_path(units: Path, name: str) -> Path:
    return units / f"model-{name.replace('/', '__')}.json"


def _key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


class Runner:
    """Owns the unit cache and the one loaded rung."""

    def __init__(self, cfg: W2SConfig, out: Path) -> None:
        self.cfg, self.units = cfg, Path(out) / "units"
        self.rung: Rung | None = None
        self.rung_key: tuple | None = None
        self.trained = self.cached = 0

    def common(self) -> dict:
        c = self.cfg
        return {
            "data_cfg": c.data.model_dump(),
            "model_cfg": c.model.model_dump(),
            "train_cfg": c.train.model_dump(),
        }

    def load(self, name: str, variant: str, task: Task) -> Rung:
        """The rung, loaded on first need; for the generative variant, tuned on the task's texts."""
        from driftlab.w2s.experiments import generative_tune

        key = (name, variant, task.name if variant == "generative" else None)
        if self.rung is None or self.rung_key != key:
            self.rung = None  # free the previous model first
            progress.log(
                f"[bold]loading {name}[/]"
                + (f" (generative fine-tuning on {task.name})" if key[2] else "")
            )
            rung = load_rung(name, self.cfg.model)
            write_json(model_info_path(self.units, name), rung.info)
            if key[2]:
                generative_tune(rung, task, self.cfg.experiments.generative)
            self.rung, self.rung_key = rung, key
        return self.rung

    def unit(self, spec: dict, compute) -> dict:
        """Read the unit from cache, or compute and save it (atomically)."""
        spec = {**spec, **self.common()}
        key = _key(spec)
        path = self.units / f"{key}.json"
        if path.exists():
            self.cached += 1
            return read_json(path)
        result = {"key": key, "spec": spec, **compute()}
        write_json(path, result)
        self.trained += 1
        return result

    def train_unit(
        self,
        spec: dict,
        task: Task,
        split: Split,
        train_idx: list[int],
        targets: np.ndarray,
        loss_name: str,
        extra_eval: dict[str, list[int]] | None = None,
    ) -> dict:
        """Train `spec['model']` on (train_idx, targets); score test (and val, and `extra_eval`)."""

        def compute() -> dict:
            rung = self.load(spec["model"], spec["variant"], task)
            feats = rung.features(task.name, task.inputs, self.cfg.data.max_length)
            model = rung.classifier(spec["seed"])
            evals = {"test": split.test, "val": split.b_val}
            loss = make_loss(loss_name, self.cfg.loss) if loss_name != "truth" else xent
            desc = f"{spec['role']} {task.name} {spec['model']}" + (
                f" <- {spec['supervisor']}" if spec.get("supervisor") else ""
            )
            # curves (and early stopping) for students only: supervisors, ceilings are scored once
            res = trainer.fit(
                model,
                feats,
                train_idx,
                targets,
                loss,
                self.cfg.train,
                spec["seed"],
                evals,
                desc=f"{desc} {loss_name} s{spec['seed']}",
                final_sets=extra_eval,
                curve=spec["role"] == "student",
            )
            final = {k: np.asarray(v) for k, v in res.checkpoints[-1]["probs"].items()}
            acc = float(((final["test"] > 0.5) == task.labels[split.test]).mean())
            progress.log(
                f"  {desc} ({loss_name}, seed {spec['seed']}): "
                f"test acc {acc:.3f} ({res.seconds:.0f}s)"
            )
            return {
                "train_idx": list(map(int, train_idx)),
                "targets": np.round(targets, 5).tolist(),
                "checkpoints": res.checkpoints,
                "final": {k: v.tolist() for k, v in final.items()},
                "test_acc": acc,
                "seconds": round(res.seconds, 2),
                "losses": [round(x, 5) for x in res.losses],
            }

        return self.unit(spec, compute)


def run_pipeline(cfg: W2SConfig, out: Path) -> tuple[list[Task], dict]:
    """Train every unit the config asks for; returns the tasks and the units by role."""
    from driftlab.w2s import experiments

    runner = Runner(cfg, out)
    tasks = load_tasks(cfg)
    units: dict = {"weak": {}, "ceiling": {}, "student": {}, "prompt": {}}
    variants = ["baseline"] + (["generative"] if cfg.experiments.generative.enabled else [])
    for variant in variants:
        for rank, name in enumerate(cfg.ladder):
            for task in tasks:
                for seed in cfg.seeds:
                    split = make_split(task, cfg, seed)
                    base = {"task": task.spec, "seed": seed, "model": name, "variant": variant}
                    weak = runner.train_unit(
                        {**base, "role": "weak"},
                        task,
                        split,
                        split.a,
                        task.labels[split.a].astype(float),
                        "truth",
                        {"b_train": split.b_train},
                    )
                    units["weak"][(task.name, variant, name, seed)] = weak
                    ceil = runner.train_unit(
                        {**base, "role": "ceiling"},
                        task,
                        split,
                        split.b_train,
                        task.labels[split.b_train].astype(float),
                        "truth",
                    )
                    units["ceiling"][(task.name, variant, name, seed)] = ceil
                    experiments.students(runner, units, task, split, seed, variant, rank)
                if variant == "baseline" and cfg.experiments.prompting.enabled:
                    experiments.prompting(runner, units, task, name)
            runner.rung = None
    progress.log(f"units trained: {runner.trained}, from cache: {runner.cached}")
    return tasks, units


def student_unit(
    runner: Runner,
    task: Task,
    split: Split,
    seed: int,
    variant: str,
    strong: str,
    supervisor: str,
    loss: str,
    train_idx: list[int],
    targets: np.ndarray,
    label_key: str,
    extra: dict | None = None,
    role: str = "student",
) -> dict:
    """Train `strong` on labels that came from `supervisor` (never from B's truth)."""
    check_hygiene(split, train_idx)
    spec = {
        "task": task.spec,
        "seed": seed,
        "model": strong,
        "variant": variant,
        "role": role,
        "supervisor": supervisor,
        "loss": loss,
        "labels_from": label_key,
        **(extra or {}),
    }
    if loss == "confidence":
        spec["loss_cfg"] = runner.cfg.loss.model_dump(include={"confidence_max", "warmup_frac"})
    elif loss == "product":
        spec["loss_cfg"] = runner.cfg.loss.model_dump(include={"product_alpha", "product_beta"})
    return runner.train_unit(spec, task, split, train_idx, targets, loss)
