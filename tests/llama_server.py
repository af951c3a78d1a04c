"""llama.cpp's OpenAI-compatible server (the llama-cpp-python package) on the built-in SmolLM2 GGUF.

Used by the openai backend's tests and by the benchmarks. The process (loopback, a free port,
its own group, killed at the end, never outliving the test session) is driftlab's LocalServer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from driftlab.models.local_server import LocalServer

MODEL_ALIAS = "smollm2"


class LlamaServer(LocalServer):
    """`with LlamaServer() as url:` gives http://127.0.0.1:PORT/v1 serving SmolLM2-135M-Instruct."""

    label = "llama.cpp server"

    def __init__(
        self,
        gguf: Path | None = None,
        threads: int = 2,
        n_ctx: int = 2048,
        startup_timeout: float = 180.0,
    ) -> None:
        super().__init__(startup_timeout)
        if gguf is None:
            from driftlab.models.builtin import BUILTIN_MODELS

            gguf = BUILTIN_MODELS["smollm2-135m-instruct"].locate()
        self.gguf, self.threads, self.n_ctx = Path(gguf), threads, n_ctx

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--n_ctx",
            str(self.n_ctx),
            "--verbose",
            "False",
        ]

    def stop(self) -> None:
        super().stop()
        self.log_path.unlink(missing_ok=True)
