"""The round engine: measure round 0, then propose -> select -> (review) -> train -> measure
-> guard, resumably.

The engine only sequences the steps; each lives in its own place: the loop proposes and
selects (loops/), mitigations reshape the training set (train/mitigations.py), the lineage
says which adapters make each round's model (lineage.py), the monitors measure (measure.py),
the guard decides (guard.decide) and the engine obeys. Each step's artifact is its
completion marker (steps.py: read if present, else computed and written atomically), and
each step draws its seed from (run seed, round, step) alone, so a run killed anywhere and
resumed ends with the same artifacts as one that never stopped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from driftlab import progress
from driftlab.config import ExperimentConfig, dump_config, load_config
from driftlab.errors import DriftlabError
from driftlab.guard import Decision, decide
from driftlab.intervals import wilson
from driftlab.lineage import AdaptableModel, Lineage
from driftlab.loops import LOOPS, LoopTask, RoundContext
from driftlab.measure import Measurer, add_result, flatten
from driftlab.models.base import Generator
from driftlab.models.hf import default_threads, pick_device
from driftlab.models.policy import SAMPLERS, Sampler
from driftlab.monitors import MonitorResult
from driftlab.review import ReviewPending, review_gate
from driftlab.steps import JSONL, once, once_dir
from driftlab.store import (
    LOOP_INFO,
    PROPOSALS,
    TRAIN_ROWS,
    RunStore,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
)
from driftlab.tasks.base import Problem, Question
from driftlab.train import get_trainer
from driftlab.train import mitigations as mitigation


def step_seed(seed: int, round_: int, step: str) -> int:
    digest = hashlib.sha256(f"{seed}/{round_}/{step}".encode()).hexdigest()
    return int(digest[:8], 16)


def round_questions(pool: list[Problem], size: int, k: int) -> list[Question]:
    """Round k's fresh slice of the unlabeled pool (wrapping when the pool is small)."""
    start = (k - 1) * size
    return [pool[(start + i) % len(pool)].as_question() for i in range(min(size, len(pool)))]


class Experiment:
    def __init__(self, cfg: ExperimentConfig, store: RunStore) -> None:
        self.cfg = cfg
        self.measurer = Measurer(cfg, store, lambda k: step_seed(cfg.seed, k, "measure"))
        self.task = self.measurer.task
        self.loop = LOOPS.get(cfg.method)(cfg.loop_settings())
        self.pool = self.task.problems("train", cfg.task.train_size * max(cfg.rounds, 1))
        if not self.pool:
            raise DriftlabError(f"task {cfg.task.name!r} gave no training questions")
        mitigation.check(cfg.mitigations, cfg.method, self.loop.trainer, self.task, self.pool)
        m = cfg.model
        # trains and scores; `policy` is what loops and monitors sample (models/policy.py)
        self.model: AdaptableModel | None = None
        self.policy: Generator | None = None
        make_sampler: Callable[..., Sampler] = SAMPLERS.get(m.sampler)  # takes its settings
        self.sampler = make_sampler(
            model=m.name,
            python=m.vllm_python,
            server_args=m.vllm_args,
            concurrency=m.batch_size,
            max_lineage_rank=cfg.train.lora_rank * max(cfg.rounds, 1),
        )
        self._model_round: int | None = None
        self.head = 0

    @property
    def store(self) -> RunStore:
        """The run directory; the Measurer holds it (it writes each round's metrics there)."""
        return self.measurer.store

    @property
    def lineage(self) -> Lineage:
        return Lineage(self.store, self.cfg.model.name)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def start(cls, cfg: ExperimentConfig, out: Path) -> Experiment:
        # a read-only view first: what can still fail (task, replay file) fails before DIR exists
        exp = cls(cfg, RunStore(out))
        exp.measurer.store = RunStore.create(out, dump_config(cfg), run_info(cfg))
        return exp

    @classmethod
    def resume(cls, out: Path, rounds: int | None = None) -> Experiment:
        store = RunStore.open(out)
        try:
            cfg = load_config(store.root / "config.toml")
            if rounds is not None and rounds != cfg.rounds:
                cfg.rounds = rounds
                store.write_config(dump_config(cfg))
            info = run_info(cfg)
            if not store.started():  # killed between its first two writes
                store.start_run(info)
            before = store.read_run().get("compute")
            if before not in (None, info["compute"]):
                progress.log(
                    f"[yellow]note:[/] the run started with {before} and resumes with "
                    f"{info['compute']}: later rounds may differ in the last bits from "
                    "a run never stopped"
                )
            store.update_run(status="running", error=None, compute=info["compute"])
        except BaseException:
            store.close()
            raise
        return cls._opened(cfg, store)

    @classmethod
    def _opened(cls, cfg: ExperimentConfig, store: RunStore) -> Experiment:
        try:
            return cls(cfg, store)
        except BaseException:
            store.close()  # the directory's lock: this process will not write it after all
            raise

    # ---- the run ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        default_threads()
        try:
            return self._run_and_record()
        finally:
            self.store.close()  # the directory's lock: another process may resume it now

    def _run_and_record(self) -> dict[str, Any]:
        try:
            self._run()
        except ReviewPending as e:  # not a failure: the run waits for a person's decisions
            progress.log(f"[yellow]paused:[/] {e}; review with: driftlab review {self.store.root}")
            return self.store.update_run(status="awaiting_review", review=e.info)
        except (KeyboardInterrupt, Exception) as e:
            reason = (
                "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            )
            self.store.update_run(status="failed", error=reason)
            raise
        finally:
            self.sampler.close()
        halted = self.store.read_run().get("halt")
        return self.store.update_run(status="halted" if halted else "completed")

    def _run(self) -> None:
        cfg = self.cfg
        progress.log(
            f"[bold]driftlab[/] {cfg.method} on {cfg.model.name}, task {cfg.task.name}, "
            f"{cfg.rounds} rounds -> {self.store.root}"
        )
        self.head = 0  # the promoted round whose model the next round starts from
        self.measurer.baseline(lambda: self._use(0))
        for k in range(1, cfg.rounds + 1):
            if self.store.read_run().get("halt"):
                break
            done = self.measurer.summary(k)
            if done is not None:  # finished before a resume
                self.head = done["head"]
                continue
            self._round(k)

    # ---- one round -------------------------------------------------------------------------
    def _round(self, k: int) -> None:
        started = time.perf_counter()
        progress.log(f"[bold]round {k}[/] (from round {self.head})")
        policy = self._use(self.head)
        rows, loop_info = self._propose(k, policy)  # the loop proposes and selects
        rows, review = review_gate(self.store, k, rows, policy, self.cfg.review)  # may pause
        summary: dict[str, Any] = {
            "round": k,
            "parent": self.head,
            **flatten("loop", loop_info["stats"]),
            **self._audit(rows),
            **flatten("review", review),
        }
        fields: dict[str, Any] = {}  # what run.json records of the guard's decision
        if rows:
            rows, mitigated = self._mitigate(k, rows)
            summary.update(flatten("mitigate", mitigated))
        if not rows:
            note = "nothing selected; model unchanged"
            summary.update(status="empty", promoted=False, head=self.head, note=note)
        else:
            summary.update(flatten("train", self._train(k, rows, mitigated)))
            for name, res in self._measure(k).items():
                add_result(summary, name, res)
            decision = self._guard(k, summary)
            summary.update(status="trained", **decision.promotion())
            fields = decision.run_fields(self.store.read_run().get("rollbacks", []))
        summary["wall_s"] = round(time.perf_counter() - started, 1)
        # the guard's halt or rollback and the round's completion mark in one write: a kill
        # leaves both or neither, never a halt without its round or a rollback recorded twice
        self.store.record_round(summary, **fields)

    # ---- the steps -------------------------------------------------------------------------
    def _propose(self, k: int, policy: Generator) -> tuple[list[dict], dict]:
        s = self.store
        info: dict[str, Any] = {}

        def propose() -> list[dict]:
            ctx = RoundContext(
                k,
                policy,
                self._loop_task(),
                round_questions(self.pool, self.cfg.task.train_size, k),
                step_seed(self.cfg.seed, k, "propose"),
                history=self._history(k),
            )
            data = self.loop.run_round(ctx)
            info.update(stats=data.stats, findings=[f.to_dict() for f in data.findings])
            write_jsonl(s.artifact(k, PROPOSALS), data.proposals)
            write_json(s.artifact(k, LOOP_INFO), info)
            return data.train  # `once` writes it last: it marks the step done

        rows, done = once(s.artifact(k, TRAIN_ROWS), propose, JSONL)
        return rows, (read_json(s.artifact(k, LOOP_INFO)) if done else info)  # done: resumed

    def _history(self, k: int) -> list[dict]:
        """Earlier rounds' stored proposals (e.g. red-team failures to re-probe), oldest first."""
        earlier = ((j, self.store.proposals(j)) for j in range(1, k))
        return [{"round": j, "proposals": rows} for j, rows in earlier if rows is not None]

    def _loop_task(self) -> LoopTask:
        t = self.task
        return LoopTask(t.name, t.cot_prompt, t.direct_prompt, t.extract, tuple(t.exemplars))

    def _audit(self, rows: list[dict]) -> dict[str, Any]:
        """How right was what the loop chose to train on? Ground truth, for the record only.

        The loop never sees this: it is computed afterwards from train.jsonl, for rows whose
        question has a known answer (self-training amplifies its own mistakes when it is low).
        A proportion of the rows trained on, so its interval is Wilson's.
        """
        if not self.task.has_ground_truth:
            return {}
        truth = {p.id: p.answer for p in self.pool}
        judged = [
            self.task.is_correct(
                self.task.extract(r["completion"][-1]["content"]), truth[r["question_id"]]
            )
            for r in rows
            if r.get("question_id") in truth and "completion" in r
        ]
        if not judged:
            return {}
        n, right = len(judged), sum(judged)
        return {
            "audit.train_rows_judged": n,
            "audit.train_answer_accuracy": right / n,
            "ci": {"audit.train_answer_accuracy": list(wilson(right, n))},
        }

    def _mitigate(self, k: int, rows: list[dict]) -> tuple[list[dict], dict[str, Any]]:
        """Round k's training set from the loop's rows (see train/mitigations.py)."""
        ancestors = self.lineage.ancestry(self.head)
        return mitigation.mitigate(
            self.cfg.mitigations,
            rows,
            lambda: [read_jsonl(self.store.artifact(j, TRAIN_ROWS)) for j in ancestors],
            self.task,
            self.pool,
            step_seed(self.cfg.seed, k, "replay"),
        )

    def _train(self, k: int, rows: list[dict], mitigated: dict[str, Any]) -> dict[str, Any]:
        """Train round k's adapter on `rows`; afterwards `model` and `policy` are round k's."""
        from_base = self.cfg.mitigations.train_from == "base"
        stack = self.lineage.stack(self.head, from_base)
        if from_base:  # the data came from the parent; the weights start again from model_0
            self.model = self._load(0)
        assert self.model is not None  # loaded by _use(head) at the round's start
        model = self.model

        def train(tmp: Path) -> dict[str, Any]:  # adapter, stats and rows appear together or not
            t = self.cfg.train
            trainer = get_trainer(self.loop.trainer, t.processes, t.accelerate_config)
            result = trainer(
                model,
                rows,
                t,
                tmp,
                step_seed(self.cfg.seed, k, "train"),
                desc=f"round {k}: training",
                initial_model=lambda: self._load(0),
                lineage=stack,
                **self.loop.train_context,
            )
            info = {**result.summary(), "losses": result.losses}
            write_json(tmp / "train_stats.json", info)
            write_jsonl(tmp / "train_rows.jsonl", rows)  # exactly what was trained on
            return info

        def trained(adapter: Path) -> dict[str, Any]:  # before a resume
            model.merge_adapter(adapter)
            return read_json(adapter / "train_stats.json")

        info = once_dir(self.lineage.adapter(k), train, trained)
        self.lineage.record(k, self.head, from_base, mitigated)
        self._model_round = k
        self.policy = self.sampler.bind(self.model, self.lineage.adapters(k))
        return info

    def _measure(self, k: int) -> dict[str, MonitorResult]:
        def policy() -> Generator:
            return self._use(0) if k == 0 else self._policy()  # later rounds: just trained

        return self.measurer.measure(k, policy)

    def _guard(self, k: int, summary: dict[str, Any]) -> Decision:
        """The guard decides round k's fate from the tripwires it fires; the engine obeys."""
        hits = self.measurer.hits(k, summary, self.head)
        decision = decide(k, hits, self.cfg.guard.action, self.head, self.measurer.best_round)
        self.head = decision.head
        if decision.action == "halt":
            progress.log(
                f"[red]halted:[/] {decision.reason}; the final model is round {decision.head}'s"
            )
        elif decision.action == "rollback":
            progress.log(
                f"[yellow]rolled back:[/] {decision.reason}; continuing from round {decision.head}"
            )
        return decision

    # ---- models ----------------------------------------------------------------------------
    def _load(self, k: int) -> AdaptableModel:
        """Round k's model, loaded fresh (round 0: e.g. a DPO reference anchored at the start)."""
        m = self.cfg.model
        return self.lineage.load(k, device=m.device, batch_size=m.batch_size)

    def _use(self, head: int) -> Generator:
        """The policy of promoted round `head`, its model loaded once (until the next round)."""
        if self.model is None or self._model_round != head:
            self.model = self._load(head)
            self.policy = self.sampler.bind(self.model, self.lineage.adapters(head))
            self._model_round = head
        return self._policy()

    def _policy(self) -> Generator:
        assert self.policy is not None  # bound by _use or _train
        return self.policy


def run_info(cfg: ExperimentConfig) -> dict[str, Any]:
    """What run.json records of the run at its start; `compute` is what bit-for-bit resumes
    depend on besides the library versions (see the README, "The run directory")."""
    default_threads()
    compute = {
        "device": str(pick_device(cfg.model.device)),
        "torch_threads": torch.get_num_threads(),
    }
    return {
        "name": cfg.name,
        "method": cfg.method,
        "model": cfg.model.name,
        "seed": cfg.seed,
        "compute": compute,
    }


def run_experiment(
    cfg: ExperimentConfig | None, out: Path, resume: bool = False, rounds: int | None = None
) -> dict[str, Any]:
    """Start a run in `out` from `cfg`, or resume the one there (`cfg` is then unused)."""
    if resume:
        exp = Experiment.resume(out, rounds)
    elif cfg is None:
        raise ValueError("a new run needs a config")
    else:
        if cfg is None:
            raise DriftlabError("a new run needs a config")
        if rounds is not None:
            cfg.rounds = rounds
        exp = Experiment.start(cfg, out)
    return exp.run()
