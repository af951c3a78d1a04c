"""A JSON-over-HTTP client for model servers that retries, rate-limits and records every attempt.

Servers time out, shed load (429), fail (5xx) and drop connections mid-reply. A long
sampling run must ride through that, and a user must be able to see afterwards that it
happened: every attempt, failure and retry is counted in `stats` and, with a log path,
appended to a JSONL file (one flushed line per event, so a crash loses nothing written).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx

from driftlab.errors import DriftlabError
from driftlab.models.servers import ServerPool

RETRY_STATUS = {408, 409, 429}  # plus every 5xx
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits uniform(0.5, 1) * min(cap, base * 2**k)."""

    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        d = min(self.max_backoff, self.backoff * 2**attempt) * rng.uniform(0.5, 1.0)
        if retry_after is not None:  # the server said when: never come back sooner
            d = max(d, min(retry_after, self.max_backoff))
        return d


class RateLimiter:
    """At most `per_second` request starts per second across threads (None: unlimited)."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class RequestRefused(DriftlabError):
    """A 4xx other than 408/409/429: the request itself is wrong, so it is not retried."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.retry_after = kind, detail, retry_after


class JSONClient:
    """POST JSON, get JSON; thread-safe. `timeout` bounds a whole attempt, not just one read.

    `base_url` may name several servers of one model (a list, or URLs joined by commas):
    requests are spread over them, and a failed one is retried on another (see servers.py).
    """

    def __init__(
        self,
        base_url: str | list[str],
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        requests_per_second: float | None = None,
        max_connections: int = 8,
        log_path: str | Path | None = None,
    ) -> None:
        urls = base_url.split(",") if isinstance(base_url, str) else base_url
        self.servers = ServerPool(
            [u.strip().rstrip("/") for u in urls], retry.backoff, retry.max_backoff
        )
        self.base_url = ",".join(self.servers.urls)
        self.timeout = timeout
        self.retry = retry
        self.limiter = RateLimiter(requests_per_second)
        self.stats: Counter[str] = Counter()
        self.log_path = Path(log_path) if log_path else None
        self._lock = threading.Lock()
        self._rng = random.Random()  # jitter only: results never depend on it
        self._client = httpx.Client(
            headers=headers or {},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections),
        )

    def close(self) -> None:
        self._client.close()

    def record(self, event: str, **fields: Any) -> None:
        """Count an event and append it to the JSONL log (flushed at once)."""
        with self._lock:
            self.stats[event] += 1
            if "kind" in fields:
                self.stats[f"{event}:{fields['kind']}"] += 1
            if "server" in fields:
                self.stats[f"{event}@{fields['server']}"] += 1
            if self.log_path is not None:
                line = json.dumps({"time": round(time.time(), 3), "event": event, **fields})
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def post(
        self,
        path: str,
        body: dict[str, Any],
        parse: Callable[[Any], T] = lambda d: d,
        tag: str = "",
    ) -> T:
        """`parse` of the server's JSON reply; retries what may pass, raises DriftlabError on what
        will not. A reply `parse` rejects (KeyError, TypeError, ValueError) counts as a bad reply
        and is retried like a dropped one: a half-formed answer is never returned."""
        several = len(self.servers.urls) > 1
        for attempt in range(self.retry.max_retries + 1):
            server, wait = self.servers.acquire()
            time.sleep(wait)  # every server is down: probe the first to come back
            where = {"server": server} if several else {}
            url = f"{server}/{path.lstrip('/')}"
            self.limiter.wait()
            self.record("request", path=path, tag=tag, attempt=attempt, **where)
            try:
                reply = self._attempt(url, body)
                try:
                    data = parse(reply)
                except (KeyError, TypeError, ValueError, IndexError) as e:
                    raise _Retryable(
                        "bad_reply", f"unexpected reply ({type(e).__name__}: {e})"
                    ) from None
            except _Retryable as e:
                change = self.servers.release(server, ok=False, retry_after=e.retry_after)
                self.record(
                    "failure",
                    kind=e.kind,
                    path=path,
                    tag=tag,
                    attempt=attempt,
                    detail=e.detail,
                    **where,
                )
                if change == "down":
                    self.record(
                        "server_down",
                        server=server,
                        kind=e.kind,
                        retry_in=round(self.servers.down_until(server), 3),
                    )
                if attempt == self.retry.max_retries:
                    self.record("gave_up", path=path, tag=tag, attempts=attempt + 1)
                    raise DriftlabError(
                        f"{url}: gave up after {attempt + 1} attempts; "
                        f"last failure: {e.kind} ({e.detail})"
                        + (f"; every attempt is logged in {self.log_path}" if self.log_path else "")
                    ) from None
                # another server is up: retry there at once; else back off as with one server
                wait = (
                    0.0
                    if several and self.servers.any_up()
                    else self.retry.delay(attempt, self._rng, e.retry_after)
                )
                self.record(
                    "retry",
                    kind=e.kind,
                    path=path,
                    tag=tag,
                    attempt=attempt + 1,
                    delay=round(wait, 3),
                )
                time.sleep(wait)
                continue
            except BaseException:  # refused (our request is wrong) or interrupted: not its health
                self.servers.release(server, ok=None)
                raise
            if self.servers.release(server, ok=True) == "up":
                self.record("server_up", server=server)
            self.record("ok", path=path, tag=tag, attempt=attempt, **where)
            return data
        raise AssertionError("unreachable")

    def _attempt(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("POST", url, json=body) as r:
                chunks = []
                for chunk in r.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:  # a server trickling bytes is still too slow
                        raise _Retryable("timeout", f"reply took longer than {self.timeout:g}s")
                raw = b"".join(chunks)
        except httpx.TimeoutException as e:
            raise _Retryable("timeout", f"{type(e).__name__} after {self.timeout:g}s") from None
        except httpx.TransportError as e:  # refused, reset, closed mid-reply
            raise _Retryable("connection", f"{type(e).__name__}: {e}") from None
        status = r.status_code
        if status in RETRY_STATUS or status >= 500:
            raise _Retryable(f"http_{status}", _snippet(raw), _retry_after(r.headers))
        if status >= 400:  # our request is wrong (bad model name, auth): retrying cannot help
            self.record("failure", kind=f"http_{status}", detail=_snippet(raw))
            raise RequestRefused(
                f"{url} refused the request (HTTP {status}): {_snippet(raw)}", status
            )
        try:
            return json.loads(raw)
        except ValueError:
            raise _Retryable("bad_reply", f"not JSON ({len(raw)} bytes): {_snippet(raw)}") from None


def _snippet(raw: bytes, limit: int = 300) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None
