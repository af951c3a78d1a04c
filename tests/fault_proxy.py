"""An HTTP proxy, in a thread, that sits in front of a real server and injects faults on cue.

Faults are taken from a script, one per request, in order; `None` (or an empty script) passes
the request through untouched:

    slow      wait `slow_s` (beyond the client's timeout), then hang up without answering
    http500   answer 500 with an error body, never reaching the server
    http429   answer 429 with Retry-After: 0
    drop      forward, then send the headers and half the body and close the connection
    truncate  forward, then answer 200 with only half the body (a well-framed but broken reply)
    http404   answer 404, as a server without that endpoint does
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        script: Sequence[str | None] = (),
        slow_s: float = 3.0,
        always: str | None = None,
    ) -> None:
        up = urlsplit(upstream)
        assert up.hostname, f"no host in {upstream!r}"
        self.up_host, self.up_port = up.hostname, up.port
        self.prefix = up.path.rstrip("/")  # e.g. /v1
        self.script = list(script)
        self.always = always  # a fault for every request once the script is used up
        self.slow_s = slow_s
        self.seen: list[tuple[str, str | None]] = []  # (path, fault) per request, in arrival order
        self.auth: list[str | None] = []
        self.bodies: list[dict] = []  # JSON request bodies, in arrival order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, path: str, auth: str | None, body: bytes) -> str | None:
        with self._lock:
            if body:
                self.bodies.append(json.loads(body))
            fault = self.script.pop(0) if self.script else self.always
            self.seen.append((path, fault))
            self.auth.append(auth)
            return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _serve(self, body: bytes) -> None:
                fault = proxy._next(self.path, self.headers.get("Authorization"), body)
                if fault == "slow":
                    time.sleep(proxy.slow_s)
                    self.close_connection = True
                    return
                if fault in ("http500", "http429", "http404"):
                    status = int(fault[4:])
                    headers = {"Retry-After": "0"} if status == 429 else {}
                    return self._reply(
                        status, json.dumps({"error": f"injected {status}"}).encode(), headers
                    )
                status, data = proxy._forward(self.command, self.path, body)
                if fault == "drop":
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if fault == "truncate":
                    data = data[: len(data) // 2]
                self._reply(status, data)

            def _reply(
                self, status: int, data: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _forward(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.up_host, self.up_port, timeout=300)
        try:
            conn.request(
                method, path, body=body or None, headers={"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
