"""The review web app: FastAPI on 127.0.0.1, one page, every click saved at once.

The page is plain HTML and JavaScript (page.py) talking to three JSON endpoints; there is no
server-side session, so any number of browsers can review at once and closing one loses
nothing. There is no authentication: bind to anything but loopback only on a trusted network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from driftlab.errors import DriftlabError
from driftlab.review.page import PAGE
from driftlab.review.session import ReviewSession, open_review


class DecideBody(BaseModel):
    example: int
    decision: Literal["accept", "reject", "edit"]
    reviewer: str = Field(min_length=1, max_length=100)
    edited: str | None = None


class FinishBody(BaseModel):
    reviewer: str = Field(min_length=1, max_length=100)
    undecided: Literal["accept", "reject"] | None = None


def create_app(session: ReviewSession, reviewer: str) -> FastAPI:
    app = FastAPI(title="driftlab review", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(DriftlabError)
    async def _user_error(_request, exc: DriftlabError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

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


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, reviewer: str = "reviewer") -> None:
    """Serve the review of RUN's pending round until Ctrl+C."""
    import uvicorn

    from driftlab import progress

    session = open_review(run_dir)
    progress.console.print(
        f"reviewing round {session.round} of {run_dir}: {len(session.items)} proposed examples\n"
        f"  open http://{host}:{port}/ (Ctrl+C stops the server; every decision is already saved)",
        highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        progress.console.print(f"[yellow]warning:[/] serving on {host} without authentication", highlight=False)
    uvicorn.run(create_app(session, reviewer), host=host, port=port, log_level="warning")
