"""The round loop: measure round 0, then propose -> select -> train -> measure, resumably.

Each step's artifact is its completion marker, and each step draws its seed from
(run seed, round, step) alone, so a run killed anywhere and resumed ends with the same
artifacts as one that never stopped.
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
from driftlab.findings import Finding
from driftlab.guard import describe
from driftlab.intervals import wilson
from driftlab.loops import LOOPS, LoopTask, RoundContext
from driftlab.measure import Measurer, add_result, flatten
from driftlab.models.base import Generator
from driftlab.models.hf import HFModel, default_threads, pick_device
from driftlab.models.policy import SAMPLERS
from driftlab.monitors import MonitorResult
from driftlab.review import ReviewPending, review_gate
from driftlab.store import RunStore, atomic_dir, read_json, read_jsonl, write_json, write_jsonl
from driftlab.tasks.base import Problem, Question
from driftlab.train import get_trainer
from driftlab.train.mitigations import load_replay_file, mix


def step_seed(seed: int, round_: int, step: str) -> int:
    digest = hashlib.sha256(f"{seed}/{round_}/{step}".encode()).hexdigest()
    return int(digest[:8], 16)


def round_questions(pool: list[Problem], size: int, k: int) -> list[Question]:
    """Round k's fresh slice of the unlabeled pool (wrapping when the pool is small)."""
    start = (k - 1) * size
    return [pool[(start + i) % len(pool)].as_question() for i in range(min(size, len(pool)))]


class Experiment:
    def __init__(self, cfg: ExperimentConfig, store: RunStore | None) -> None:
        self.cfg = cfg
        self.measurer = Measurer(cfg, store, lambda k: step_seed(cfg.seed, k, "measure"))
        self.task = self.measurer.task
        self.loop = LOOPS.get(cfg.method)(cfg.loop_settings())
        self.pool = self.task.problems("train", cfg.task.train_size * max(cfg.rounds, 1))
        if not self.pool:
            raise DriftlabError(f"task {cfg.task.name!r} gave no training questions")
        self._check_mitigations()
        m = cfg.model
        # trains and scores; `policy` is what loops and monitors sample (models/policy.py)
        self.model: HFModel | None = None
        self.policy: Generator | None = None
        self.sampler = SAMPLERS.get(m.sampler)(
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

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def start(cls, cfg: ExperimentConfig, out: Path) -> Experiment:
        exp = cls(cfg, None)  # what can still fail (task, replay file) fails before DIR exists
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

    # ---- the loop --------------------------------------------------------------------------
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
            done = self._summary(k)
            if done is not None:  # finished before a resume
                self.head = done["head"]
                continue
            self._round(k)

    # ---- models and lineage ----------------------------------------------------------------
    def _use(self, head: int) -> HFModel:
        """The model of promoted round `head`: base plus its lineage of adapters, loaded once."""
        if self.model is None or self._model_round != head:
            m = self.cfg.model
            self.model = HFModel.load(
                m.name, adapters=self._lineage(head), device=m.device, batch_size=m.batch_size
            )
            self.policy = self.sampler.bind(self.model, self._lineage(head))
            self._model_round = head
        return self.model

    def _policy(self) -> Generator:
        """What loops and monitors sample: the model `_use` or training last bound."""
        if self.policy is None:
            raise RuntimeError("no model is loaded yet")
        return self.policy

    def _lineage(self, k: int) -> list[Path]:
        """The adapters stacked on the base, in order, to make model_k."""
        if k == 0:
            return []
        return [
            self.store.root / a
            for a in read_json(self.store.artifact(k, "lineage.json"))["adapters"]
        ]

    def _load_initial(self) -> HFModel:
        """model_0, loaded fresh (e.g. as a DPO reference anchored at the start)."""
        m = self.cfg.model
        return HFModel.load(m.name, device=m.device, batch_size=m.batch_size)

    def _summary(self, k: int) -> dict[str, Any] | None:
        return self.measurer.summary(k)

    # ---- one round -------------------------------------------------------------------------
    def _round(self, k: int) -> None:
        started = time.perf_counter()
        progress.log(f"[bold]round {k}[/] (from round {self.head})")
        self._use(self.head)
        rows, loop_info = self._propose(k)
        rows, review = review_gate(
            self.store, k, rows, self.policy, self.cfg.review
        )  # may pause the run
        audit = self._audit(rows)
        summary: dict[str, Any] = {
            "round": k,
            "parent": self.head,
            **flatten("loop", loop_info["stats"]),
            **flatten("audit", audit),
        }
        if audit:  # a proportion of the rows trained on: Wilson
            n = int(audit["train_rows_judged"])
            right = round(audit["train_answer_accuracy"] * n)
            summary["ci"] = {"audit.train_answer_accuracy": list(wilson(right, n))}
        summary.update(flatten("review", review))
        if rows:
            rows, mitigation = self._mitigate(k, rows)
            if self.cfg.mitigations.active:
                summary.update(flatten("mitigate", mitigation))
        verdict: dict[str, Any] = {}
        if not rows:
            summary.update(
                status="empty",
                promoted=False,
                head=self.head,
                note="nothing selected; model unchanged",
            )
        else:
            summary.update(flatten("train", self._train(k, rows, mitigation)))
            self._model_round = k
            self.policy = self.sampler.bind(self.model, self._lineage(k))
            for name, res in self._measure(k).items():
                add_result(summary, name, res)
            promotion, verdict = self._guard(k, summary)
            summary.update(status="trained", **promotion)
        summary["wall_s"] = round(time.perf_counter() - started, 1)
        # the guard's halt or rollback and the round's completion mark in one write: a kill
        # leaves both or neither, never a halt without its round or a rollback recorded twice
        self.store.record_round(summary, **verdict)

    def _guard(self, k: int, current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the tripwires: whether round k is promoted and where the run goes next, and
        what run.json must record of it (a halt, or one more rollback event)."""
        hits = self.measurer.hits(k, current, self.head)
        if not hits:
            self.head = k
            return {"promoted": True, "head": k}, {}
        g = self.cfg.guard
        messages = [describe(h) for h in hits]
        verdict: dict[str, Any]
        if g.action == "halt":
            verdict = {
                "halt": {
                    "round": k,
                    "action": "halt",
                    "hits": hits,
                    "final_round": self.head,
                    "message": "; ".join(messages),
                }
            }
            progress.log(
                f"[red]halted:[/] {'; '.join(messages)}; the final model is round {self.head}'s"
            )
        else:
            self.head = self.measurer.best_round()
            event = {
                "round": k,
                "hits": hits,
                "restored_round": self.head,
                "message": "; ".join(messages),
            }
            verdict = {"rollbacks": [*self.store.read_run().get("rollbacks", []), event]}
            progress.log(
                f"[yellow]rolled back:[/] {'; '.join(messages)}; continuing from round {self.head}"
            )
        return {"promoted": False, "head": self.head, "guard": messages}, verdict

    def _propose(self, k: int) -> tuple[list[dict], dict]:
        s = self.store
        if s.has(k, "train.jsonl"):
            return read_jsonl(s.artifact(k, "train.jsonl")), read_json(s.artifact(k, "loop.json"))
        ctx = RoundContext(
            k,
            self._policy(),
            self._loop_task(),
            round_questions(self.pool, self.cfg.task.train_size, k),
            step_seed(self.cfg.seed, k, "propose"),
            history=self._history(k),
        )
        data = self.loop.run_round(ctx)
        info = {"stats": data.stats, "findings": [f.to_dict() for f in data.findings]}
        write_jsonl(s.artifact(k, "proposals.jsonl"), data.proposals)
        write_json(s.artifact(k, "loop.json"), info)
        write_jsonl(s.artifact(k, "train.jsonl"), data.train)  # last: it marks the step done
        return data.train, info

    def _history(self, k: int) -> list[dict]:
        """Earlier rounds' stored proposals (e.g. red-team failures to re-probe), oldest first."""
        s = self.store
        return [
            {"round": j, "proposals": read_jsonl(s.artifact(j, "proposals.jsonl"))}
            for j in range(1, k)
            if s.has(j, "proposals.jsonl")
        ]

    def _audit(self, rows: list[dict]) -> dict[str, float]:
        """How right was what the loop chose to train on? Ground truth, for the record only.

        The loop never sees this: it is computed afterwards from train.jsonl, for rows whose
        question has a known answer (self-training amplifies its own mistakes when it is low).
        """
        if not getattr(self.task, "has_ground_truth", True):
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
        return {
            "train_rows_judged": len(judged),
            "train_answer_accuracy": sum(judged) / len(judged),
        }

    def _loop_task(self) -> LoopTask:
        t = self.task
        return LoopTask(t.name, t.cot_prompt, t.direct_prompt, t.extract, tuple(t.exemplars))

    def _train(self, k: int, rows: list[dict], mitigation: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        adapter = s.artifact(k, "adapter")
        from_base = self.cfg.mitigations.train_from == "base"
        stack = [] if from_base else self._lineage(self.head)
        lineage = {
            "parent": self.head,
            "adapters": [str(p.relative_to(s.root)) for p in [*stack, adapter]],
            "train_from": "base" if from_base else f"round {self.head}",
            "mitigations": mitigation,
        }
        # from base: the data came from the parent; the weights start again from model_0
        model = self._load_initial() if from_base else self._use(self.head)
        self.model = model
        if adapter.exists():  # trained before a resume
            model.merge_adapter(adapter)
            write_json(s.artifact(k, "lineage.json"), lineage)
            return read_json(adapter / "train_stats.json")
        t = self.cfg.train
        trainer = get_trainer(self.loop.trainer, t.processes, t.accelerate_config)
        seed = step_seed(self.cfg.seed, k, "train")
        with atomic_dir(adapter) as tmp:  # adapter, stats and rows appear together or not at all
            result = trainer(
                model,
                rows,
                self.cfg.train,
                tmp,
                seed,
                desc=f"round {k}: training",
                initial_model=self._load_initial,
                lineage=stack,
                **getattr(self.loop, "train_context", {}),
            )
            info = {**result.summary(), "losses": result.losses}
            write_json(tmp / "train_stats.json", info)
            write_jsonl(tmp / "train_rows.jsonl", rows)  # exactly what was trained on
        write_json(s.artifact(k, "lineage.json"), lineage)
        return info

    # ---- mitigations -----------------------------------------------------------------------
    def _check_mitigations(self) -> None:
        m = self.cfg.mitigations
        if m.replay_fraction > 0 and self.loop.trainer != "sft":
            raise DriftlabError(
                f"mitigations.replay_fraction needs an SFT loop; {self.cfg.method} trains "
                f"with {self.loop.trainer}"
            )
        if (
            m.replay_fraction > 0
            and m.replay_source == "task"
            and not hasattr(self.task, "reference_solution")
        ):
            raise DriftlabError(
                f"mitigations.replay_source = 'task': task {self.task.name!r} has no reference "
                "solutions; give a JSONL file of {prompt, completion} rows instead"
            )
        if m.replay_fraction > 0 and m.replay_source != "task":
            load_replay_file(m.replay_source)  # fail now, not at round 1

    def _mitigate(self, k: int, rows: list[dict]) -> tuple[list[dict], dict[str, Any]]:
        """Round k's training set from the loop's rows (see train/mitigations.py)."""
        m = self.cfg.mitigations
        if not m.active:
            return rows, {}
        ancestors = [
            read_jsonl(self.store.artifact(j, "train.jsonl")) for j in self._ancestry(self.head)
        ]
        embed_fn: Callable[[list[str]], Any] | None = None
        if m.dedup == "embedding":
            from driftlab.models.embed import embed as embed_fn
        return mix(
            m,
            rows,
            ancestors,
            self._replay_pool() if m.replay_fraction else [],
            step_seed(self.cfg.seed, k, "replay"),
            embed_fn,
        )

    def _ancestry(self, head: int) -> list[int]:
        """The promoted rounds that led to `head`, oldest first (0, the base, has no rows)."""
        chain = []
        while head > 0:
            chain.append(head)
            head = read_json(self.store.artifact(head, "lineage.json"))["parent"]
        return chain[::-1]

    def _replay_pool(self) -> list[dict]:
        m = self.cfg.mitigations
        if m.replay_source != "task":
            return load_replay_file(m.replay_source)
        return [
            {
                "prompt": [{"role": "user", "content": self.task.cot_prompt(p.question)}],
                "completion": [{"role": "assistant", "content": self.task.reference_solution(p)}],
                "question_id": p.id,
            }
            for p in self.pool
        ]

    def _measure(self, k: int) -> dict[str, MonitorResult]:
        def policy() -> Generator:
            if k == 0:
                self._use(0)
            return self._policy()  # later rounds: the model just trained

        return self.measurer.measure(k, policy)


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
    if resume:
        exp = Experiment.resume(out, rounds)
    elif cfg is None:
        raise ValueError("a new run needs a config")
    else:
        if rounds is not None:
            cfg.rounds = rounds
        exp = Experiment.start(cfg, out)
    return exp.run()


def findings_of(store: RunStore, k: int) -> list[Finding]:
    out = []
    if store.has(k, "loop.json"):
        out += [Finding(**f) for f in read_json(store.artifact(k, "loop.json"))["findings"]]
    if store.has(k, "metrics.json"):
        out += [Finding(**f) for f in read_json(store.artifact(k, "metrics.json"))["findings"]]
    return out
