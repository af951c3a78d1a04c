"""The policy's sampler: which engine samples the model being improved.

`[model] sampler = "transformers"` (default) samples with the same HFModel that is trained.
`"vllm"` samples through a vLLM server that driftlab starts in its own environment
(models/vllm_server.py) and talks to with the `openai` backend; transformers still trains the
policy and scores texts (log-probs of given continuations), on the very same weights.

Round k's policy is the base model plus its lineage of LoRA adapters. vLLM applies one adapter
per request and cannot stack several, so a lineage of more than one is folded into a single
equivalent adapter (`combine_adapters`): each round's adapter was trained on the weights with
the earlier ones merged, so the merged model is W + sum_i s_i B_i A_i, which is exactly one
LoRA of rank sum r_i with A = [A_1; ...; A_n] and B = [s_1 B_1, ..., s_n B_n] (scale 1).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from driftlab.errors import ConfigError, DriftlabError
from driftlab.models.base import Chat, Completion, Generator, Prompt, SamplingParams
from driftlab.registry import Registry
from driftlab.store import atomic_dir, write_json

if TYPE_CHECKING:
    from driftlab.models.vllm_server import VLLMServer

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values --max-lora-rank accepts


class Sampler(Protocol):
    def __init__(self, **settings: Any) -> None: ...

    def bind(self, model: Any, adapters: list[Path]) -> Generator:
        """The policy that loops and monitors see: `model` (an HFModel with `adapters` merged)
        for scoring, sampled by this engine."""
        ...

    def close(self) -> None: ...


SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


@SAMPLERS.register("transformers")
class TransformersSampler:
    """transformers' generate on the trained model itself."""

    def __init__(self, **settings: Any) -> None:
        pass

    def bind(self, model: Any, adapters: list[Path]) -> Generator:
        return model

    def close(self) -> None:
        pass


class ServedPolicy:
    """Sampled by a server, scored by `scorer` (an HFModel holding the same weights).

    Scoring (log-probs, a judge's options) and anything else (tokenizer, render, device) is the
    scorer's, so code written for the transformers policy keeps working.
    """

    def __init__(self, scorer: Any, sampler: Generator, server: Any = None) -> None:
        self.scorer, self.sampler, self.server = scorer, sampler, server
        self.name = scorer.name

    def generate(
        self, chats: list[Chat], params: SamplingParams, desc: str = "sampling"
    ) -> list[list[Completion]]:
        try:
            return self.sampler.generate(chats, params, desc=f"{desc} (vLLM)")
        except DriftlabError as e:  # a dead server explains itself better than refused requests
            proc = getattr(self.server, "proc", None)
            if proc is None or proc.poll() is None:
                raise
            raise DriftlabError(
                f"{e}\nthe vLLM server had exited ({proc.returncode}); its log "
                f"({self.server.log_path}) ends:\n{self.server.log_tail(12)}"
            ) from None

    def logprobs(self, chats: list[Chat], completions: list[str]) -> list[float]:
        return self.scorer.logprobs(chats, completions)

    def text_logprobs(self, texts: list[str]) -> list[tuple[float, int]]:
        return self.scorer.text_logprobs(texts)

    def option_logprobs(
        self, prompts: list[Prompt], options: list[str], desc: str = "judging"
    ) -> list[float]:
        return self.scorer.option_logprobs(prompts, options, desc)

    def __getattr__(self, attr: str) -> Any:
        if attr == "scorer":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self.scorer, attr)


@SAMPLERS.register("vllm")
class VLLMSampler:
    """A managed vLLM server, started at the first `bind` and stopped by `close`."""

    def __init__(
        self,
        model: str,
        python: str = "",
        server_args: Sequence[str] = (),
        max_lineage_rank: int = 16,
        concurrency: int = 64,
        **_: Any,
    ) -> None:
        from driftlab.models.vllm_server import vllm_python

        self.python = vllm_python(python)  # fails now, before any model is loaded
        self.model, self.server_args, self.concurrency = model, list(server_args), concurrency
        max_rank = next((r for r in VLLM_LORA_RANKS if r >= max_lineage_rank), None)
        if max_rank is None:
            raise ConfigError(
                f"sampler vllm: a lineage may reach LoRA rank {max_lineage_rank} "
                f"(lora_rank x rounds), above vLLM's limit of {VLLM_LORA_RANKS[-1]}"
            )
        self.max_rank: int = max_rank
        self.server: VLLMServer | None = None
        self._work: Path | None = None  # folded lineages, deleted by close()

    def bind(self, model: Any, adapters: list[Path]) -> Generator:
        from driftlab.models import load_generator
        from driftlab.models.builtin import resolve
        from driftlab.models.vllm_server import SERVED_NAME, VLLMServer

        if self.server is None:
            self.server = VLLMServer(
                resolve(self.model), self.python, self.max_rank, self.server_args
            )
            self.server.start()
        name = SERVED_NAME
        if adapters:
            key = "\n".join(str(Path(a).resolve()) for a in adapters)
            name = f"lineage-{len(adapters)}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
            path = Path(adapters[0])
            if len(adapters) > 1:
                self._work = self._work or Path(tempfile.mkdtemp(prefix="driftlab-lineage-"))
                path = self._work / name
                if not path.exists():
                    combine_adapters(adapters, path)
            self.server.load_adapter(name, path)
        client = load_generator(
            f"openai:{name}@{self.server.url}",
            concurrency=self.concurrency,
            timeout=1800,
            max_retries=2,
        )
        return ServedPolicy(model, client, self.server)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None


def combine_adapters(adapters: list[Path], out: Path) -> Path:
    """One PEFT LoRA adapter equal to merging `adapters` in order (see the module docstring)."""
    import torch
    from safetensors.torch import load_file, save_file

    configs = [json.loads((Path(a) / "adapter_config.json").read_text()) for a in adapters]
    weights = [load_file(str(Path(a) / "adapter_model.safetensors")) for a in adapters]
    keys = set(weights[0])
    if any(set(w) != keys for w in weights) or any(
        c.get("rank_pattern") or c.get("alpha_pattern") for c in configs
    ):
        raise DriftlabError(
            f"cannot fold lineage {[str(a) for a in adapters]} into one adapter: "
            "its adapters adapt different modules or ranks per module"
        )
    scales = [c["lora_alpha"] / (c["r"] ** 0.5 if c.get("use_rslora") else c["r"]) for c in configs]
    merged = {}
    for key in sorted(keys):
        if ".lora_A." in key:
            merged[key] = torch.cat([w[key] for w in weights], dim=0).contiguous()
        elif ".lora_B." in key:
            scaled = [w[key] * s for w, s in zip(weights, scales)]
            merged[key] = torch.cat(scaled, dim=1).contiguous()
        else:
            raise DriftlabError(f"cannot fold adapter tensor {key!r} (not a LoRA A or B matrix)")
    rank = sum(c["r"] for c in configs)
    config = {**configs[0], "r": rank, "lora_alpha": rank, "use_rslora": False}
    with atomic_dir(out) as tmp:
        save_file(merged, str(tmp / "adapter_model.safetensors"))
        write_json(tmp / "adapter_config.json", config)
    return out
