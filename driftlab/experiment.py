"""The round loop: measure round 0, then propose -> select -> train -> measure, resumably.

Each step's artifact is its completion marker, and each step draws its seed from
(run seed, round, step) alone, so a run killed anywhere and resumed ends with the same
artifacts as one that never stopped.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from driftlab import progress
from driftlab.config import ExperimentConfig, dump_config, load_config
from driftlab.errors import DriftlabError
from driftlab.findings import Finding
from driftlab.guard import describe
from driftlab.loops import LOOPS, LoopTask, RoundContext
from driftlab.models.base import Generator
from driftlab.models.hf import HFModel, default_threads
from driftlab.models.policy import SAMPLERS
from driftlab.monitors import MONITORS, MeasureContext, MonitorResult
from driftlab.review import ReviewPending, review_gate
from driftlab.train import get_trainer
from driftlab.train.mitigations import load_replay_file, mix
from driftlab.store import RunStore, atomic_dir, read_json, read_jsonl, write_json, write_jsonl
from driftlab.tasks.base import Problem, Question


def step_seed(seed: int, round_: int, step: str) -> int:
    digest = hashlib.sha256(f"{seed}/{round_}/{step}".encode()).hexdigest()
    return int(digest[:8], 16)


def round_questions(pool: list[Problem], size: int, k: int) -> list[Question]:
    """Round k's fresh slice of the unlabeled pool (wrapping when the pool is small)."""
    start = (k - 1) * size
    return [pool[(start + i) % len(pool)].as_question() for i in range(min(size, len(pool)))]


def flatten(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}


class Experiment:
    def __init__(self, cfg: ExperimentConfig, store: RunStore) -> None:
        self.cfg = cfg
        self.store = store
        self.task = cfg.build_task()
        self.loop = LOOPS.get(cfg.method)(cfg.loop_settings())
        self.monitors = {n: MONITORS.get(n)(c) for n, c in cfg.monitor_settings().items()}
        self.eval_set = self.task.problems("eval", cfg.task.eval_size)
        self.pool = self.task.problems("train", cfg.task.train_size * max(cfg.rounds, 1))
        if not self.pool:
            raise DriftlabError(f"task {cfg.task.name!r} gave no training questions")
        self._check_mitigations()
        m = cfg.model
        # trains and scores; `policy` is what loops and monitors sample (models/policy.py)
        self.model: HFModel | None = None
        self.policy: Generator | None = None
        self.sampler = SAMPLERS.get(m.sampler)(
            model=m.name, python=m.vllm_python, server_args=m.vllm_args, concurrency=m.batch_size,
            max_lineage_rank=cfg.train.lora_rank * max(cfg.rounds, 1))
        self._model_round: int | None = None
        self.head = 0

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def start(cls, cfg: ExperimentConfig, out: Path) -> Experiment:
        store = RunStore.create(out, dump_config(cfg), {"name": cfg.name, "method": cfg.method,
                                                        "model": cfg.model.name, "seed": cfg.seed})
        return cls(cfg, store)

    @classmethod
    def resume(cls, out: Path, rounds: int | None = None) -> Experiment:
        store = RunStore.open(out)
        cfg = load_config(store.root / "config.toml")
        if rounds is not None and rounds != cfg.rounds:
            cfg.rounds = rounds
            (store.root / "config.toml").write_text(dump_config(cfg))
        store.update_run(status="running", error=None)
        return cls(cfg, store)

    # ---- the loop --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        default_threads()
        try:
            self._run()
        except ReviewPending as e:  # not a failure: the run waits for a person's decisions
            progress.log(f"[yellow]paused:[/] {e}; review with: driftlab review {self.store.root}")
            return self.store.update_run(status="awaiting_review", review=e.info)
        except (KeyboardInterrupt, Exception) as e:
            reason = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            self.store.update_run(status="failed", error=reason)
            raise
        finally:
            self.sampler.close()
        halted = self.store.read_run().get("halt")
        return self.store.update_run(status="halted" if halted else "completed")

    def _run(self) -> None:
        cfg = self.cfg
        progress.log(f"[bold]driftlab[/] {cfg.method} on {cfg.model.name}, task {cfg.task.name}, "
                     f"{cfg.rounds} rounds -> {self.store.root}")
        self.head = 0  # the promoted round whose model the next round starts from
        baseline = self._measure(0)
        if self._summary(0) is None:
            summary = {"round": 0, "status": "baseline", "promoted": True, "head": 0}
            for name, res in baseline.items():
                summary.update(flatten(name, res.metrics))
            self.store.record_round(summary)
        for name, mon in self.monitors.items():
            mon.fit(baseline.get(name))
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
            self.model = HFModel.load(m.name, adapters=self._lineage(head), device=m.device,
                                      batch_size=m.batch_size)
            self.policy = self.sampler.bind(self.model, self._lineage(head))
            self._model_round = head
        return self.model

    def _lineage(self, k: int) -> list[Path]:
        """The adapters stacked on the base, in order, to make model_k."""
        if k == 0:
            return []
        return [self.store.root / a for a in read_json(self.store.artifact(k, "lineage.json"))["adapters"]]

    def _load_initial(self) -> HFModel:
        """model_0, loaded fresh (e.g. as a DPO reference anchored at the start)."""
        m = self.cfg.model
        return HFModel.load(m.name, device=m.device, batch_size=m.batch_size)

    def _summary(self, k: int) -> dict[str, Any] | None:
        return next((r for r in self.store.read_run()["rounds"] if r["round"] == k), None)

    # ---- one round -------------------------------------------------------------------------
    def _round(self, k: int) -> None:
        started = time.perf_counter()
        progress.log(f"[bold]round {k}[/] (from round {self.head})")
        self._use(self.head)
        rows, loop_info = self._propose(k)
        rows, review = review_gate(self.store, k, rows, self.policy, self.cfg.review)  # may pause the run
        summary: dict[str, Any] = {"round": k, "parent": self.head, **flatten("loop", loop_info["stats"]),
                                   **flatten("audit", self._audit(rows))}
        summary.update(flatten("review", review))
        if rows:
            rows, mitigation = self._mitigate(k, rows)
            if self.cfg.mitigations.active:
                summary.update(flatten("mitigate", mitigation))
        if not rows:
            summary.update(status="empty", promoted=False, head=self.head,
                           note="nothing selected; model unchanged")
        else:
            summary.update(flatten("train", self._train(k, rows, mitigation)))
            self._model_round = k
            self.policy = self.sampler.bind(self.model, self._lineage(k))
            for name, res in self._measure(k).items():
                summary.update(flatten(name, res.metrics))
            summary.update(status="trained", **self._guard(k, summary))
        summary["wall_s"] = round(time.perf_counter() - started, 1)
        self.store.record_round(summary)

    def _guard(self, k: int, current: dict[str, Any]) -> dict[str, Any]:
        """Check the tripwires; decide whether round k is promoted and where the run goes next."""
        rounds = {r["round"]: r for r in self.store.read_run()["rounds"]}
        hits = [h for rule in self.cfg.guard.parsed()
                if (h := rule.check(current, rounds[0], rounds[self.head])) is not None]
        if not hits:
            self.head = k
            return {"promoted": True, "head": k}
        for h in hits:
            h["round"] = k
        g = self.cfg.guard
        messages = [describe(h) for h in hits]
        if g.action == "halt":
            self.store.update_run(halt={"round": k, "action": "halt", "hits": hits, "final_round": self.head,
                                        "message": "; ".join(messages)})
            progress.log(f"[red]halted:[/] {'; '.join(messages)}; the final model is round {self.head}'s")
        else:
            candidates = [r for r in rounds.values() if r["round"] == 0 or r.get("promoted")]
            pick = max if g.best_mode == "max" else min
            best = pick(candidates, key=lambda r: r.get(g.best_metric, float("-inf") if g.best_mode == "max"
                                                          else float("inf")))
            self.head = best["round"]
            events = self.store.read_run().get("rollbacks", [])
            self.store.update_run(rollbacks=[*events, {"round": k, "hits": hits, "restored_round": self.head,
                                                       "message": "; ".join(messages)}])
            progress.log(f"[yellow]rolled back:[/] {'; '.join(messages)}; continuing from round {self.head}")
        return {"promoted": False, "head": self.head, "guard": messages}

    def _propose(self, k: int) -> tuple[list[dict], dict]:
        s = self.store
        if s.has(k, "train.jsonl"):
            return read_jsonl(s.artifact(k, "train.jsonl")), read_json(s.artifact(k, "loop.json"))
        ctx = RoundContext(k, self.policy, self._loop_task(), round_questions(self.pool, self.cfg.task.train_size, k),
                           step_seed(self.cfg.seed, k, "propose"), history=self._history(k))
        data = self.loop.run_round(ctx)
        info = {"stats": data.stats, "findings": [f.to_dict() for f in data.findings]}
        write_jsonl(s.artifact(k, "proposals.jsonl"), data.proposals)
        write_json(s.artifact(k, "loop.json"), info)
        write_jsonl(s.artifact(k, "train.jsonl"), data.train)  # last: it marks the step done
        return data.train, info

    def _history(self, k: int) -> list[dict]:
        """Earlier rounds' stored proposals (e.g. red-team failures to re-probe), oldest first."""
        s = self.store
        return [{"round": j, "proposals": read_jsonl(s.artifact(j, "proposals.jsonl"))}
                for j in range(1, k) if s.has(j, "proposals.jsonl")]

    def _audit(self, rows: list[dict]) -> dict[str, float]:
        """How right was what the loop chose to train on? Ground truth, for the record only.

        The loop never sees this: it is computed afterwards from train.jsonl, for rows whose
        question has a known answer (self-training amplifies its own mistakes when it is low).
        """
        if not getattr(self.task, "has_ground_truth", True):
            return {}
        truth = {p.id: p.answer for p in self.pool}
        judged = [self.task.is_correct(self.task.extract(r["completion"][-1]["content"]), truth[r["question_id"]])
                  for r in rows if r.get("question_id") in truth and "completion" in r]
        if not judged:
            return {}
        return {"train_rows_judged": len(judged), "train_answer_accuracy": sum(judged) / len(judged)}

    def _loop_task(self) -> LoopTask:
        t = self.task
        return LoopTask(t.name, t.cot_prompt, t.direct_prompt, t.extract, tuple(t.exemplars))

    def _train(self, k: int, rows: list[dict], mitigation: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        adapter = s.artifact(k, "adapter")
        from_base = self.cfg.mitigations.train_from == "base"
        stack = [] if from_base else self._lineage(self.head)
        lineage = {"parent": self.head, "adapters": [str(p.relative_to(s.root)) for p in [*stack, adapter]],
                   "train_from": "base" if from_base else f"round {self.head}", "mitigations": mitigation}
        if from_base:  # the data came from the parent; the weights start again from model_0
            self.model = self._load_initial()
        if adapter.exists():  # trained before a resume
            self.model.merge_adapter(adapter)
            write_json(s.artifact(k, "lineage.json"), lineage)
            return read_json(adapter / "train_stats.json")
        trainer = get_trainer(self.loop.trainer)
        seed = step_seed(self.cfg.seed, k, "train")
        with atomic_dir(adapter) as tmp:  # adapter, stats and rows appear together or not at all
            result = trainer(self.model, rows, self.cfg.train, tmp, seed, desc=f"round {k}: training",
                             initial_model=self._load_initial, **getattr(self.loop, "train_context", {}))
            info = {**result.summary(), "losses": result.losses}
            write_json(tmp / "train_stats.json", info)
            write_jsonl(tmp / "train_rows.jsonl", rows)  # exactly what was trained on
        write_json(s.artifact(k, "lineage.json"), lineage)
        return info

    # ---- mitigations -----------------------------------------------------------------------
    def _check_mitigations(self) -> None:
        m = self.cfg.mitigations
        if m.replay_fraction > 0 and self.loop.trainer != "sft":
            raise DriftlabError(f"mitigations.replay_fraction needs an SFT loop; {self.cfg.method} trains "
                                f"with {self.loop.trainer}")
        if m.replay_fraction > 0 and m.replay_source == "task" and not hasattr(self.task, "reference_solution"):
            raise DriftlabError(f"mitigations.replay_source = 'task': task {self.task.name!r} has no reference "
                                "solutions; give a JSONL file of {prompt, completion} rows instead")
        if m.replay_fraction > 0 and m.replay_source != "task":
            load_replay_file(m.replay_source)  # fail now, not at round 1

    def _mitigate(self, k: int, rows: list[dict]) -> tuple[list[dict], dict[str, Any]]:
        """Round k's training set from the loop's rows (see train/mitigations.py)."""
        m = self.cfg.mitigations
        if not m.active:
            return rows, {}
        ancestors = [read_jsonl(self.store.artifact(j, "train.jsonl")) for j in self._ancestry(self.head)]
        embed_fn = None
        if m.dedup == "embedding":
            from driftlab.models.embed import embed as embed_fn
        return mix(m, rows, ancestors, self._replay_pool() if m.replay_fraction else [],
                   step_seed(self.cfg.seed, k, "replay"), embed_fn)

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
        return [{"prompt": [{"role": "user", "content": self.task.cot_prompt(p.question)}],
                 "completion": [{"role": "assistant", "content": self.task.reference_solution(p)}],
                 "question_id": p.id} for p in self.pool]

    def _measure(self, k: int) -> dict[str, MonitorResult]:
        s = self.store
        if s.has(k, "metrics.json"):
            stored = read_json(s.artifact(k, "metrics.json"))["monitors"]
            return {n: MonitorResult.from_dict(d) for n, d in stored.items()}
        if k == 0:
            self._use(0)
        # later rounds: the model just trained
        ctx = MeasureContext(k, self.policy, self.task, self.eval_set, step_seed(self.cfg.seed, k, "measure"))
        results = {}
        for name, mon in self.monitors.items():
            if k == 0:
                mon.fit(None)
            results[name] = mon.score(ctx)
        findings = [f.to_dict() for r in results.values() for f in r.findings]
        write_json(s.artifact(k, "metrics.json"),
                   {"round": k, "monitors": {n: r.to_dict() for n, r in results.items()}, "findings": findings})
        return results


def run_experiment(cfg: ExperimentConfig | None, out: Path, resume: bool = False,
                   rounds: int | None = None) -> dict[str, Any]:
    if resume:
        exp = Experiment.resume(out, rounds)
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
