"""A model server run as a child process on loopback: what the vLLM policy server and the
llama.cpp server of the tests and benchmarks share.

The server binds 127.0.0.1 on a free port, in its own process group, and writes its output to a
log file. `start()` waits until `GET /v1/models` answers, and reports the end of the log if the
process exits first; `stop()` ends the whole group (SIGTERM, then SIGKILL). The child also gets
SIGTERM when its parent dies without cleaning up, even by SIGKILL, so no server outlives the
process that started it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

from driftlab import progress
from driftlab.errors import DriftlabError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """Linux (a `preexec_fn`): the child gets SIGTERM when its parent dies, even by kill -9."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalServer:
    """`with Server(...) as url:` gives http://127.0.0.1:PORT/v1; subclasses say how to start."""

    label = "server"

    def __init__(self, startup_timeout: float) -> None:
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None
        prefix = f"driftlab-{self.label.split()[0].lower()}-"
        self.log_path = Path(tempfile.mkstemp(prefix=prefix, suffix=".log")[1])

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> str:
        progress.log(f"starting the {self.label} on {self.url} (log: {self.log_path})")
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        progress.log(f"{self.label} ready after {time.monotonic() - started:.0f}s")
        return self.url

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise DriftlabError(
                    f"the {self.label} exited with {code} while "
                    f"starting; its log ({self.log_path}) ends:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/models", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise DriftlabError(
            f"the {self.label} did not answer within {self.startup_timeout:g}s; "
            f"its log ({self.log_path}) ends:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
