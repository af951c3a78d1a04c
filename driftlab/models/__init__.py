"""Model backends. `load_generator` turns a model spec string into a Generator.

A spec is a built-in name, a local path or a hub id (the transformers backend), or
``PREFIX:REST`` for another backend registered in `BACKENDS` (by driftlab, or by another
installed package through a "driftlab.backends" entry point):

    openai:MODEL@http://127.0.0.1:8080/v1    any OpenAI-compatible server (models/openai.py)
    vllm:MODEL?tensor_parallel_size=2         offline batched sampling on GPU (models/vllm.py)

Backends are imported only when chosen: importing driftlab never imports vllm or a client.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftlab.models.base import Generator
from driftlab.registry import Registry

# TRL's configs need gradient_checkpointing=False passed by that name, and PEFT reads
# model.is_gradient_checkpointing when it wraps a model; transformers 5 calls the name
# deprecated and warns on every adapter load. Neither is the user's to fix.
warnings.filterwarnings(
    "ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning
)


@dataclass(frozen=True)
class Backend:
    """A spec prefix's backend: `load(rest_of_spec, **options)` gives the Generator;
    `check(rest_of_spec)` parses the spec and raises DriftlabError, loading nothing."""

    load: Callable[..., Generator]
    check: Callable[[str], None]


# prefix (before the first ':') -> its Backend; other installed packages add one as an entry
# point in "driftlab.backends" (PREFIX = "pkg.module:BACKEND", a Backend instance)
BACKENDS: Registry[Backend] = Registry(
    "model backend", "driftlab.backends", lambda obj: isinstance(obj, Backend)
)


def register_backend(prefix: str, check: Callable[[str], None]):
    def deco(loader: Callable[..., Generator]) -> Callable[..., Generator]:
        BACKENDS.register(prefix)(Backend(loader, check))
        return loader

    return deco


def _check_openai(rest: str) -> None:
    from driftlab.models.openai import OpenAIConfig, api_key

    api_key(OpenAIConfig.from_spec(rest))


def _check_vllm(rest: str) -> None:
    from driftlab.models.vllm import VLLMConfig

    VLLMConfig.from_spec(rest)


@register_backend("openai", _check_openai)
def _openai(rest: str, **options: Any) -> Generator:
    from driftlab.models.openai import OpenAIModel

    return OpenAIModel.from_spec(rest, **options)


@register_backend("vllm", _check_vllm)
def _vllm(rest: str, **options: Any) -> Generator:
    from driftlab.models.vllm import VLLMModel

    return VLLMModel.from_spec(rest, **options)


def check_generator(spec: str) -> None:
    """Raise DriftlabError now if `load_generator(spec)` cannot work; loads nothing.

    Commands check every model they will use before the first sample, so a typo in the
    second model never costs the minutes spent sampling the first.
    """
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in BACKENDS:
        BACKENDS.get(prefix).check(rest)
        return
    from driftlab.models.builtin import check_name

    check_name(spec)


def load_generator(
    spec: str, device: str = "auto", batch_size: int = 32, **options: Any
) -> Generator:
    """The model named by `spec`; transformers unless the spec starts with a backend prefix.

    `options` go to a prefixed backend (e.g. concurrency=8 for openai); device and batch_size
    only concern the transformers backend.
    """
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in BACKENDS:
        return BACKENDS.get(prefix).load(rest, **options)
    from driftlab.models.hf import HFModel

    return HFModel.load(spec, device=device, batch_size=batch_size)
