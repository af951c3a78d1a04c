"""Model backends. `load_generator` turns a model spec string into a Generator.

A spec is a built-in name, a local path or a hub id (the transformers backend), or
``PREFIX:REST`` for another backend registered in `BACKENDS`:

    openai:MODEL@http://127.0.0.1:8080/v1    any OpenAI-compatible server (models/openai.py)
    vllm:MODEL?tensor_parallel_size=2         offline batched sampling on GPU (models/vllm.py)

Backends are imported only when chosen: importing driftlab never imports vllm or a client.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from driftlab.models.base import Generator

# TRL's configs need gradient_checkpointing=False passed by that name, and PEFT reads
# model.is_gradient_checkpointing when it wraps a model; transformers 5 calls the name
# deprecated and warns on every adapter load. Neither is the user's to fix.
warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)

# prefix (before the first ':') -> loader(rest_of_spec, **options)
BACKENDS: dict[str, Callable[..., Generator]] = {}


def register_backend(prefix: str) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    def deco(loader: Callable[..., Generator]) -> Callable[..., Generator]:
        if prefix in BACKENDS:
            raise ValueError(f"backend prefix {prefix!r} is registered twice")
        BACKENDS[prefix] = loader
        return loader

    return deco


@register_backend("openai")
def _openai(rest: str, **options: Any) -> Generator:
    from driftlab.models.openai import OpenAIModel

    return OpenAIModel.from_spec(rest, **options)


@register_backend("vllm")
def _vllm(rest: str, **options: Any) -> Generator:
    from driftlab.models.vllm import VLLMModel

    return VLLMModel.from_spec(rest, **options)


def load_generator(spec: str, device: str = "auto", batch_size: int = 32, **options: Any) -> Generator:
    """The model named by `spec`; transformers unless the spec starts with a backend prefix.

    `options` go to a prefixed backend (e.g. concurrency=8 for openai); device and batch_size
    only concern the transformers backend.
    """
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in BACKENDS:
        return BACKENDS[prefix](rest, **options)
    from driftlab.models.hf import HFModel

    return HFModel.load(spec, device=device, batch_size=batch_size)
