"""Killed anywhere: SIGKILL a real `driftlab` process right after each of its durable writes.

A flow is a list of CLI steps on one run directory (a run, a review --finish, a resume).
The uninterrupted flow runs once, and its directory is copied after each step. Then, for
every step i and every k, a fresh process starts step i on a copy of the directory as it
was before step i, with DRIFTLAB_FAULT="SIGKILL after k" (driftlab/store.py: the process
SIGKILLs itself right after its k-th atomic rename); another fresh process finishes the
step (`--resume` for a run); the directory must then equal the uninterrupted copy after
step i, byte for byte except the fields store.TIME_FIELDS names. The sweep for a step ends at the
first k the step outlives (that case checks that an uninterrupted rerun gives the same
bytes). Steps after i start in fresh processes from equal directories, so they write what
the uninterrupted flow wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import pytest
import tomli_w

from driftlab.store import FAULT_ENV, LOCK_NAME, TIME_FIELDS

WORKERS = 2
# The lock file holds the writer's pid; report.html is rebuilt from the other files and
# shows times and the directory's path.
NOT_COMPARED = {LOCK_NAME, "report.html"}
RUN = "{dir}"  # stands for the run directory in a step's arguments


def tiny_run_config(model: Path, path: Path, **sections) -> Path:
    """A 2-round LMSI run small enough to sweep: 2 questions, 2 samples, 1 training step."""
    cfg = {
        "name": "kill",
        "seed": 3,
        "rounds": 2,
        "model": {"name": str(model), "batch_size": 16},
        "task": {"name": "arithmetic", "train_size": 2, "eval_size": 2},
        "loop": {"method": "lmsi", "samples": 2, "max_new_tokens": 8, "formats": ["direct"]},
        "train": {"epochs": 1, "batch_size": 4, "lora_rank": 2},
        "monitors": {
            "capability": {"samples": 2, "max_new_tokens": 8},
            **{m: {"enabled": False} for m in ("diversity", "reference_ppl", "reflectivity")},
        },
        **sections,
    }
    # fires on every trained round (accuracy is never negative): a halt or rollback each time
    cfg["guard"] = {"rules": ["capability.accuracy >= 0"], **sections.get("guard", {})}
    path.write_text(tomli_w.dumps(cfg))
    return path


def command(args: list[str], run_dir: Path, fault: str | None = None) -> dict:
    """Arguments for `driftlab ARGS` in a fresh interpreter (its own hash seed, one torch
    thread), with store.py's fault hook armed when `fault` is given."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", FAULT_ENV)}
    env.update(DRIFTLAB_QUIET="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    if fault:
        env[FAULT_ENV] = fault
    argv = [a.replace(RUN, str(run_dir)) for a in args]
    return {"args": [sys.executable, "-m", "driftlab", *argv], "env": env, "text": True}


def driftlab(
    args: list[str], run_dir: Path, fault: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(**command(args, run_dir, fault), capture_output=True, timeout=300)


def _untimed_json(path: Path):
    """The JSON's text as parsed, in order, numbers as written; time fields blanked."""

    def untimed(pairs: list[tuple]) -> list[tuple]:
        return [(k, None if k in TIME_FIELDS else v) for k, v in pairs]

    return json.loads(
        path.read_text(encoding="utf-8"),
        parse_float=str,
        parse_int=str,
        parse_constant=str,
        object_pairs_hook=untimed,
    )


def _review_rows(path: Path) -> dict[str, list]:
    """The review database's rows, without the click times (`at`)."""
    with sqlite3.connect(path) as db:
        return {
            "decisions": db.execute(
                "SELECT id, round, example, decision, edited, reviewer FROM decisions ORDER BY id"
            ).fetchall(),
            "finished": db.execute("SELECT round, reviewer, undecided FROM finished").fetchall(),
        }


def artifacts(root: Path) -> dict[str, object]:
    """Every file of a run directory (temporary leftovers included), comparable across runs."""
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        if p.is_dir() or p.name in NOT_COMPARED:
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix == ".json":
            out[rel] = _untimed_json(p)
        elif p.suffix == ".sqlite":
            out[rel] = _review_rows(p)
        else:
            out[rel] = p.read_bytes()
    return out


def first_difference(got: dict, want: dict) -> str:
    if got.keys() != want.keys():
        return (
            f"files differ: extra {sorted(got.keys() - want.keys())}, "
            f"missing {sorted(want.keys() - got.keys())}"
        )
    return "contents differ: " + ", ".join(k for k in want if got[k] != want[k])


class Flow:
    """CLI steps with, for each, the command that finishes it after a kill."""

    def __init__(self, steps: list[tuple[list[str], list[str]]], tmp: Path) -> None:
        self.steps, self.tmp = steps, tmp
        self.before: list[Path] = []  # the directory as each step finds it, uninterrupted
        self.after: list[dict] = []
        self.cases = 0

    def reference(self) -> Path:
        run_dir = self.tmp / "whole"
        for i, (args, _) in enumerate(self.steps):
            self.before.append(self.tmp / f"before-{i}")
            if run_dir.exists():
                shutil.copytree(run_dir, self.before[-1])
            res = driftlab(args, run_dir)
            assert res.returncode == 0, res.stderr
            self.after.append(artifacts(run_dir))
        return run_dir

    def case(self, i: int, k: int) -> bool:
        """Kill step i after its k-th write, finish it anew, compare. False: it outlived k."""
        args, finish = self.steps[i]
        run_dir = self.tmp / f"step{i}-kill{k}"
        if self.before[i].exists():
            shutil.copytree(self.before[i], run_dir)
        killed = driftlab(args, run_dir, f"SIGKILL after {k}")
        if killed.returncode != -signal.SIGKILL:
            assert killed.returncode == 0, killed.stderr
        else:
            assert (run_dir / LOCK_NAME).exists()  # the lock a SIGKILL leaves must not block
            res = driftlab(finish, run_dir)
            assert res.returncode == 0, f"step {i} killed after write {k}, then: {res.stderr}"
        got = artifacts(run_dir)
        assert got == self.after[i], (
            f"step {i} killed after write {k}: {first_difference(got, self.after[i])}"
        )
        shutil.rmtree(run_dir)
        return killed.returncode == -signal.SIGKILL

    def sweep(self) -> None:
        """Every (step, k) until each step outlives its k, WORKERS cases at a time."""
        next_k = dict.fromkeys(range(len(self.steps)), 1)
        done: set[int] = set()
        with ThreadPoolExecutor(WORKERS) as pool:
            running: dict[Future[bool], int] = {}
            while True:
                while len(running) < WORKERS and (todo := [i for i in next_k if i not in done]):
                    i = todo[0]  # at most one case past a step's last write runs in vain
                    running[pool.submit(self.case, i, next_k[i])] = i
                    next_k[i] += 1
                    self.cases += 1
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    i = running.pop(f)
                    if not f.result():
                        done.add(i)


def run_step(cfg: Path) -> tuple[list[str], list[str]]:
    return ["run", str(cfg), "--out", RUN], ["run", "--resume", "--out", RUN]


RESUME = (["run", "--resume", "--out", RUN], ["run", "--resume", "--out", RUN])
FINISH_REVIEW = (["review", RUN, "--finish", "--undecided", "accept", "--reviewer", "t"],) * 2


@pytest.mark.parametrize("flow_name", ["review-halt", "rollback"])
def test_a_run_killed_after_any_write_resumes_to_the_same_bytes(flow_name, tiny_model, tmp_path):
    if flow_name == "review-halt":
        # round 0; round 1 proposes, pauses for review, is reviewed, trains, is measured and
        # halted by the guard
        cfg = tiny_run_config(
            tiny_model,
            tmp_path / "c.toml",
            guard={"action": "halt"},
            review={"enabled": True, "critique_max_new_tokens": 8},
        )
        flow = Flow([run_step(cfg), FINISH_REVIEW, RESUME], tmp_path)
    else:
        # round 0; rounds 1 and 2 propose, train, are measured and rolled back to round 0
        cfg = tiny_run_config(tiny_model, tmp_path / "c.toml", guard={"action": "rollback"})
        flow = Flow([run_step(cfg)], tmp_path)
    start = time.perf_counter()
    whole = flow.reference()
    run = json.loads((whole / "run.json").read_text())
    if flow_name == "review-halt":
        assert run["status"] == "halted" and run["halt"]["round"] == 1
        assert [r["status"] for r in run["rounds"]] == ["baseline", "trained"]
        assert {"review.json", "critiques.jsonl"} <= {p.name for p in whole.glob("rounds/001/*")}
    else:
        assert run["status"] == "completed" and [e["round"] for e in run["rollbacks"]] == [1, 2]
        assert [r["head"] for r in run["rounds"]] == [0, 0, 0]
    reference_s = time.perf_counter() - start
    flow.sweep()
    print(
        f"{flow_name}: reference {reference_s:.0f}s, {flow.cases} kill cases "
        f"{time.perf_counter() - start - reference_s:.0f}s"
    )
    assert flow.cases >= 20  # a sweep that stopped early would prove little


def test_a_kill_before_a_rename_leaves_a_temporary_that_resume_sweeps(tiny_model, tmp_path):
    cfg = tiny_run_config(tiny_model, tmp_path / "c.toml", rounds=1)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert driftlab(["run", str(cfg), "--out", RUN], whole).returncode == 0
    # write 3 is round 0's metrics.json: killed with its temporary complete, not yet renamed
    res = driftlab(["run", str(cfg), "--out", RUN], cut, "SIGKILL before 3")
    assert res.returncode == -signal.SIGKILL
    left = [p.name for p in (cut / "rounds" / "000").iterdir()]
    assert len(left) == 1 and left[0].startswith(".metrics.json.") and left[0].endswith(".tmp")
    assert driftlab(["run", "--resume", "--out", RUN], cut).returncode == 0
    assert artifacts(cut) == artifacts(whole)


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_one_writer_at_a_time_and_the_second_is_told_why(tiny_model, tmp_path):
    cfg = tiny_run_config(tiny_model, tmp_path / "c.toml", rounds=1)
    run_dir = tmp_path / "run"
    # the first run freezes itself holding the directory, right after creating run.json
    first = subprocess.Popen(
        **command(["run", str(cfg), "--out", RUN], run_dir, "SIGSTOP after 2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert first.stderr is not None
    try:
        deadline = time.monotonic() + 120
        while not _stopped(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        held = artifacts(run_dir)
        for args in (
            ["run", "--resume", "--out", RUN],
            ["run", "--resume", "--rounds", "3", "--out", RUN],
        ):
            second = driftlab(args, run_dir)
            assert second.returncode == 2, second.stderr
            message = " ".join(second.stderr.split())  # rich wraps long lines
            assert f"{run_dir} is in use by another driftlab process (pid {first.pid})" in message
            assert "Traceback" not in second.stderr and second.stderr.count("error:") == 1
        # the second wrote nothing, not even a report
        assert artifacts(run_dir) == held and not (run_dir / "report.html").exists()
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "halted"  # the guard rule
    # the lock went with the first process: the directory is free again
    assert driftlab(["run", "--resume", "--out", RUN], run_dir).returncode == 0
