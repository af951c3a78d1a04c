"""The review web app: FastAPI on 127.0.0.1, one page, every click saved at once.

The page is plain HTML and JavaScript (page.py) talking to three JSON endpoints; there is no
server-side session, so any number of browsers can review at once and closing one loses
nothing.

Only the person who started the server gets in, as with Jupyter: `serve` makes a secret token
per launch and prints the URL that carries it (`/?token=...`). A request is answered only if
  - its Host header is this server's own (127.0.0.1, localhost or [::1] with the port, or the
    --host given): a DNS-rebinding page, whose requests carry its own host name, is refused;
  - it holds the token: in the query (the page then gets it as an HttpOnly, SameSite=Strict
    cookie named for the port), the cookie, or an `X-Driftlab-Token` header (for scripts);
  - and, when it changes anything (POST), its Origin header is this server's own origin
    (browsers always send Origin on a POST; a request without one is refused too);
  - its body is at most MAX_BODY bytes with a Content-Length, and an edit at most MAX_EDIT
    characters.
Everything else gets 403 (411/413/422 for the size rules) before any handler runs.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from driftlab.errors import DriftlabError
from driftlab.review.page import PAGE
from driftlab.review.session import ReviewSession, open_review

MAX_BODY = 256 * 1024  # bytes of one request body
MAX_EDIT = 20_000  # characters of one edited example
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# The page's one inline script runs by its per-response nonce; nothing else may run or load.
CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class DecideBody(BaseModel):
    example: int
    decision: Literal["accept", "reject", "edit"]
    reviewer: str = Field(min_length=1, max_length=100)
    edited: str | None = Field(None, max_length=MAX_EDIT)


class FinishBody(BaseModel):
    reviewer: str = Field(min_length=1, max_length=100)
    undecided: Literal["accept", "reject"] | None = None


def allowed_hosts(host: str, port: int) -> set[str]:
    """Host header values of this server: loopback names, and `host` unless it is a wildcard."""
    wildcard = host in ("0.0.0.0", "::", "")
    names = {*LOOPBACK, *([] if wildcard else [f"[{host}]" if ":" in host else host])}
    return {f"{n}:{port}" for n in names} | (names if port == 80 else set())


def create_app(
    session: ReviewSession, reviewer: str, token: str, hosts: set[str], port: int
) -> FastAPI:
    app = FastAPI(title="driftlab review", docs_url=None, redoc_url=None, openapi_url=None)
    cookie = f"driftlab_review_{port}"  # cookies are shared across ports: one name per server
    origins = {f"http://{h}" for h in hosts}

    def refuse(status: int, why: str) -> JSONResponse:
        return JSONResponse({"error": why}, status_code=status)

    @app.middleware("http")
    async def admit_only_the_user(request: Request, call_next) -> Response:
        if request.headers.get("host") not in hosts:
            return refuse(403, "unknown Host header: this server answers only on its own address")
        given = request.query_params.get("token")
        held = given or request.cookies.get(cookie) or request.headers.get("x-driftlab-token") or ""
        if not secrets.compare_digest(held.encode(), token.encode()):
            return refuse(403, "missing or wrong token: open the URL `driftlab review` printed")
        if request.method not in ("GET", "HEAD"):
            if request.headers.get("origin") not in origins:
                return refuse(403, "cross-origin request refused")
            size = request.headers.get("content-length")
            if size is None or not size.isascii() or not size.isdigit():
                return refuse(411, "a request body needs a Content-Length")
            if int(size) > MAX_BODY:
                return refuse(413, f"request body over {MAX_BODY} bytes")
        response = await call_next(request)
        if given:
            response.set_cookie(cookie, token, httponly=True, samesite="strict", path="/")
        response.headers.update(
            {
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
            }
        )
        return response

    @app.exception_handler(DriftlabError)
    async def _user_error(_request, exc: DriftlabError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(
            PAGE.replace("<script>", f'<script nonce="{nonce}">', 1),
            headers={"Content-Security-Policy": CSP.format(nonce=nonce)},
        )

    @app.get("/favicon.ico", status_code=204)
    def favicon() -> None:
        return None

    @app.get("/api/state")
    def state() -> dict:
        return {**session.state(), "default_reviewer": reviewer}

    @app.get("/api/decisions")
    def decisions() -> dict:
        return session.decisions()

    @app.post("/api/decide")
    def decide(body: DecideBody) -> dict:
        return session.decide(body.example, body.decision, body.reviewer, body.edited)

    @app.post("/api/finish")
    def finish(body: FinishBody) -> dict:
        return session.finish(body.reviewer, body.undecided)

    return app


def serve(
    run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, reviewer: str = "reviewer"
) -> None:
    """Serve the review of RUN's pending round until Ctrl+C."""
    import uvicorn

    from driftlab import progress

    session = open_review(run_dir)
    token = secrets.token_urlsafe(24)  # new at every launch; only this terminal sees it
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    progress.console.print(
        f"reviewing round {session.round} of {run_dir}: {len(session.items)} proposed examples\n"
        f"  open http://{shown}:{port}/?token={token}\n"
        "  (Ctrl+C stops the server; every decision is already saved)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        progress.console.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach it "
            "and sees the token can review; the token travels unencrypted "
            "(plain http)",
            highlight=False,
        )
    app = create_app(session, reviewer, token, allowed_hosts(host, port), port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
