"""The w2s units: tasks and their splits, the typed keys of every unit kind, and the runner that
trains a unit once and reads it from disk after.

A unit is one trained model (or one prompted evaluation), saved as units/KEY.json, KEY the
`steps.key_of` hash of every setting it depends on (its spec), so a rerun or a larger sweep
trains only what is missing. In memory the sweep files each unit under a typed key, one
NamedTuple per unit kind, which results.py reads back by field name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from driftlab import progress
from driftlab.errors import ConfigError
from driftlab.steps import key_of, once
from driftlab.store import write_json
from driftlab.w2s import train as trainer
from driftlab.w2s.config import W2SConfig
from driftlab.w2s.generative import generative_tune
from driftlab.w2s.losses import make_loss, xent
from driftlab.w2s.models import Rung, load_rung
from driftlab.w2s.tasks import TaskData, build_task_data


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


# ---- the keys of the sweep's units, one kind each ---------------------------------------------


class ModelKey(NamedTuple):
    """A model trained on truth: a weak supervisor (on A) or a ceiling (on B)."""

    task: str
    variant: str
    model: str  # a ladder name, or "synthetic" for a synthetic supervisor
    seed: int


class StudentKey(NamedTuple):
    """A student: `strong` trained with `loss` on labels that came from `weak`."""

    task: str
    variant: str
    weak: str
    strong: str
    loss: str
    seed: int


class ChainKey(NamedTuple):
    """A bootstrap intermediate: the last rung of `chain`, labelling B for the next rung."""

    task: str
    chain: tuple[str, ...]
    loss: str
    seed: int


class PromptKey(NamedTuple):
    """A prompted evaluation of `model` (few-shot labels from `supervisor`, if any)."""

    task: str
    model: str
    mode: str
    supervisor: str | None
    seed: int


@dataclass
class Units:
    """Every unit of a sweep, by kind. `chain` holds the cross-fitted labels (and the keys of
    the units they came from) that bootstrap intermediates hand to the next rung."""

    weak: dict[ModelKey, dict] = field(default_factory=dict)
    ceiling: dict[ModelKey, dict] = field(default_factory=dict)
    student: dict[StudentKey, dict] = field(default_factory=dict)
    prompt: dict[PromptKey, dict] = field(default_factory=dict)
    chain: dict[ChainKey, tuple[np.ndarray, str]] = field(default_factory=dict)


# ---- tasks and splits ---------------------------------------------------------------------------


def load_tasks(cfg: W2SConfig) -> list[Task]:
    out = []
    for spec in cfg.tasks:
        data = build_task_data(spec)
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


# ---- the runner: the unit cache and the one loaded rung -----------------------------------------


def model_info_path(units: Path, name: str) -> Path:
    return units / f"model-{name.replace('/', '__')}.json"


class Runner:
    """Owns the unit cache and the one loaded rung."""

    def __init__(self, cfg: W2SConfig, out: Path) -> None:
        self.cfg, self.units = cfg, Path(out) / "units"
        self.rung: Rung | None = None
        self.rung_key: tuple[str, str, str | None] | None = None
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
                generative_tune(
                    rung, task.name, task.texts[: task.n_pool], self.cfg.experiments.generative
                )
            self.rung, self.rung_key = rung, key
        return self.rung

    def unit(self, spec: dict, compute: Callable[[], dict[str, Any]]) -> dict:
        """Read the unit from units/KEY.json, or compute and save it there (atomically)."""
        spec = {**spec, **self.common()}
        key = key_of(spec)
        result, hit = once(
            self.units / f"{key}.json", lambda: {"key": key, "spec": spec, **compute()}
        )
        self.cached += hit
        self.trained += not hit
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
            # curves (and early stopping) only for students: supervisors, ceilings scored once
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
