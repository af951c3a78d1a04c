"""Several servers of one model: spread requests, keep each server's health, skip the dead ones.

A user with several GPU nodes runs one server per node and names them all
(``openai:MODEL@URL1,URL2``). Each request goes to the healthy server with the fewest requests
in flight. A server whose request fails (refused connection, timeout, 5xx, 429) is marked
down for a backoff that doubles with each failure in a row, so a dead node costs one failed
request per backoff, not one per request; the failed request is retried at once on another
server. When the backoff ends the server gets requests again; one success clears its record.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Health:
    in_flight: int = 0
    failures: int = 0  # in a row; 0 = healthy
    down_until: float = 0.0


class ServerPool:
    """Thread-safe choice among base URLs. With one URL it never marks anything down."""

    def __init__(
        self,
        urls: list[str],
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a server pool needs at least one URL")
        self.urls = list(urls)
        self.health = {u: Health() for u in self.urls}
        self.backoff, self.max_backoff, self.clock = backoff, max_backoff, clock
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._rng = random.Random()

    def acquire(self) -> tuple[str, float]:
        """(server, seconds to wait before using it): the least busy server that is up, or,
        when all are down, the one that comes back first (a probe once its backoff ends)."""
        with self._lock:
            now = self.clock()
            turn = next(self._turn)
            order = self.urls[turn % len(self.urls) :] + self.urls[: turn % len(self.urls)]
            up = [u for u in order if self.health[u].down_until <= now]
            if up:
                url, wait = min(up, key=lambda u: self.health[u].in_flight), 0.0
            else:
                url = min(order, key=lambda u: self.health[u].down_until)
                wait = self.health[url].down_until - now
            self.health[url].in_flight += 1
            return url, wait

    def release(self, url: str, ok: bool | None, retry_after: float | None = None) -> str | None:
        """Record how a request to `url` ended (None: it says nothing of the server's health);
        "down" or "up" when that changes the server's state."""
        with self._lock:
            h = self.health[url]
            h.in_flight -= 1
            if ok is None:
                return None
            if ok:
                change = "up" if h.failures else None
                h.failures, h.down_until = 0, 0.0
                return change
            now = self.clock()
            if len(self.urls) == 1 or h.down_until > now:  # already down: requests sent
                return None  # before it went down fail together, and count once
            h.failures += 1
            pause = min(self.max_backoff, self.backoff * 2 ** (h.failures - 1))
            pause = max(pause * self._rng.uniform(0.5, 1.0), retry_after or 0.0)
            h.down_until = now + pause
            return "down"

    def any_up(self) -> bool:
        with self._lock:
            now = self.clock()
            return any(h.down_until <= now for h in self.health.values())

    def down_until(self, url: str) -> float:
        """Seconds from now until `url` is tried again (0 when it is up)."""
        with self._lock:
            return max(0.0, self.health[url].down_until - self.clock())
