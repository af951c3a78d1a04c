"""Several OpenAI-compatible servers of one model: spread, health, retries on the others.

The pool's rules are checked on a fake clock; the proof is two real llama.cpp servers with
one of them SIGKILLed mid-run: every request still gets its answer, from the survivor.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from driftlab.errors import DriftlabError
from driftlab.models import load_generator
from driftlab.models.base import SamplingParams
from driftlab.models.openai import OpenAIModel
from driftlab.models.servers import ServerPool
from tests.llama_server import MODEL_ALIAS, LlamaServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_spread_and_a_failing_server_is_skipped_then_retried():
    clock = Clock()
    pool = ServerPool(["http://a", "http://b"], backoff=1.0, max_backoff=8.0, clock=clock)
    first, second = pool.acquire(), pool.acquire()
    assert {first[0], second[0]} == {"http://a", "http://b"}  # least busy first
    pool.release("http://b", ok=True)
    assert pool.release("http://a", ok=False) == "down"
    assert [pool.acquire()[0] for _ in range(3)] == ["http://b"] * 3
    for _ in range(3):
        pool.release("http://b", ok=True)
    clock.now += 1.0  # the backoff (0.5-1 s for a first failure) is over: a is tried again
    got = [pool.acquire() for _ in range(2)]
    assert {u for u, _ in got} == {"http://a", "http://b"} and [w for _, w in got] == [0, 0]
    pool.release("http://b", ok=True)
    assert pool.release("http://a", ok=False) == "down"  # second failure in a row: 1-2 s down
    assert 1.0 <= pool.down_until("http://a") <= 2.0
    url, _ = pool.acquire()
    assert url == "http://b" and pool.release(url, ok=False) == "down"
    url, wait = pool.acquire()  # both down: the first to come back, after a wait
    assert url == "http://b" and 0 < wait <= 1.0
    assert pool.release(url, ok=True) == "up" and pool.any_up()


def test_requests_that_fail_together_count_once_and_one_server_is_never_down():
    clock = Clock()
    pool = ServerPool(["http://a", "http://b"], backoff=1.0, clock=clock)
    for _ in range(3):
        pool.health["http://a"].in_flight += 1
    assert [pool.release("http://a", ok=False) for _ in range(3)] == ["down", None, None]
    assert pool.health["http://a"].failures == 1
    single = ServerPool(["http://a"], clock=clock)
    single.acquire()
    assert single.release("http://a", ok=False) is None and single.acquire() == ("http://a", 0.0)


def test_every_url_must_be_http():
    with pytest.raises(DriftlabError, match="'ftp://b/v1' is not http"):
        load_generator("openai:m@http://a/v1,ftp://b/v1")


def test_two_real_servers_one_killed_mid_run_loses_nothing(tmp_path):
    log = tmp_path / "requests.jsonl"
    chats = [
        [{"role": "user", "content": f"Write one short sentence about the number {i}."}]
        for i in range(24)
    ]
    params = SamplingParams(n=1, temperature=0, max_new_tokens=24, seed=0)
    victim, survivor = LlamaServer(threads=1), LlamaServer(threads=1)
    with victim as url_a, survivor as url_b:
        model = load_generator(
            f"openai:{MODEL_ALIAS}@{url_a},{url_b}", concurrency=4, backoff=0.5, log_path=str(log)
        )
        assert isinstance(model, OpenAIModel) and victim.proc is not None
        proc = victim.proc
        killed = threading.Event()

        def kill_when_busy() -> None:  # once the victim has answered a few requests
            while model.stats.get(f"ok@{url_a}", 0) < 3:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)  # the real server process, no goodbye
            killed.set()

        watcher = threading.Thread(target=kill_when_busy, daemon=True)
        watcher.start()
        out = model.generate(chats, params)
        watcher.join(timeout=5)
        assert killed.is_set() and proc.wait(timeout=5) == -signal.SIGKILL
    stats = model.stats
    print({k: v for k, v in sorted(stats.items()) if "@" in k or k in ("server_down", "retry")})
    assert [len(row) for row in out] == [1] * 24 and all(row[0].text for row in out)
    assert stats["ok"] == 24 and stats.get("gave_up", 0) == 0
    assert stats[f"ok@{url_a}"] >= 3 and stats[f"ok@{url_b}"] >= 12
    assert stats[f"failure@{url_a}"] >= 1 and stats.get(f"failure@{url_b}", 0) == 0
    assert stats["server_down"] >= 1 and stats["retry"] == stats["failure"]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    down = next(i for i, e in enumerate(events) if e["event"] == "server_down")
    assert events[down]["server"] == url_a and events[down]["kind"] == "connection"
    # after the victim went down, every answer came from the survivor
    assert {e["server"] for e in events[down:] if e["event"] == "ok"} == {url_b}
