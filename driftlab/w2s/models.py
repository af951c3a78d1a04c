"""A binary classification head on a pretrained language model (Burns et al. 2023, sec. 3).

Pooling (documented choice, `model.pooling = "auto"`): decoders use the hidden state of the last
non-pad token, the only position that has attended to the whole text (the paper's choice);
encoders use the mask-weighted mean of all tokens, which is what sentence encoders such as
all-MiniLM-L6-v2 were trained to make meaningful. Texts are right-padded.

Fine-tuning (`model.finetune`):
- `top`: the top `train_layers` blocks, the final norm and the head are trained; the frozen
  lower blocks of a decoder are run once per text and their output cached, so every trained
  model of a sweep pays only for its top blocks (on a CPU the difference between a sweep that
  fits in half an hour and one that does not). `train_layers = 0` is a linear probe on cached
  pooled features.
- `lora`: LoRA (PEFT) on every linear layer, plus the head.
- `full`: every weight.
`depth` < 1 reads the residual stream part-way up (the blocks above are dropped): mid-depth
states of small LMs hold knowledge more linearly than the last blocks, which specialise in
predicting the next token.
Always fp32 on CPU: bf16 matmul there is hundreds of times slower.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from driftlab.errors import DriftlabError
from driftlab.steps import TORCH, key_of, once
from driftlab.w2s.config import RungConfig

ENCODER_TYPES = {
    "bert",
    "roberta",
    "mpnet",
    "distilbert",
    "xlm-roberta",
    "electra",
    "deberta",
    "deberta-v2",
}


def _layers(model: Any, kind: str) -> nn.ModuleList:
    return model.encoder.layer if kind == "encoder" else model.layers


def truncate(base: Any, kind: str, depth: float) -> Any:
    """Keep the first `depth` share of the blocks (at least one); a decoder's final norm still
    applies."""
    layers = _layers(base, kind)
    keep = max(1, round(depth * len(layers)))
    if keep == len(layers):
        return base
    if kind == "encoder":
        base.encoder.layer = nn.ModuleList(list(layers)[:keep])
    else:
        base.layers = nn.ModuleList(list(layers)[:keep])
        if getattr(base.config, "layer_types", None):
            base.config.layer_types = list(base.config.layer_types)[:keep]
    base.config.num_hidden_layers = keep
    return base


def pool(h: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, T, H] -> [B, H]: the mask-weighted mean, or the last non-pad token (right padding)."""
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1)
    last = mask.sum(1).long() - 1
    return h[torch.arange(h.shape[0]), last]


class Classifier(nn.Module):
    """body (a transformers base model, or None for a probe) + pooling + standardization +
    Linear(hidden, 2)."""

    def __init__(self, body: nn.Module | None, hidden: int, pooling: str) -> None:
        super().__init__()
        self.body = body
        self.pooling = pooling
        self.head = nn.Sequential(Standardize(hidden), nn.Linear(hidden, 2))

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "pooled" in batch:
            return batch["pooled"]
        assert self.body is not None  # only a probe (no body) reads pooled inputs
        out = self.body(**batch, return_dict=True)
        return pool(out.last_hidden_state, batch["attention_mask"], self.pooling)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.pooled(batch))

    @torch.no_grad()
    def calibrate(self, feats: Features, idx: list[int], batch_size: int = 64) -> None:
        """Set the head's standardization from the pooled training inputs, before training."""
        was = self.training
        self.eval()
        x = torch.cat(
            [
                self.pooled(feats.batch(idx[s : s + batch_size]))
                for s in range(0, len(idx), batch_size)
            ]
        )
        cast(Standardize, self.head[0]).fit(x)
        self.train(was)


class Standardize(nn.Module):
    """Per-feature (x - mean) / std with statistics fixed from the training inputs: what a
    linear probe's StandardScaler does. Decoder residual streams carry a few dimensions hundreds
    of times larger than the rest; a per-text LayerNorm divides the informative small ones by
    that scale and a linear head then barely moves in a few dozen steps (SmolLM2-135M stayed at
    chance on facts where a standardized probe on the same features reaches ~70%)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(hidden))
        self.register_buffer("std", torch.ones(hidden))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp(min=1e-4) if len(x) > 1 else torch.ones_like(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclass
class Features:
    """Model inputs for every text of one task: token ids, cached hidden states or pooled
    vectors."""

    mode: str  # "tokens" | "hidden" | "pooled"
    rows: list[torch.Tensor]  # per text: ids [T], hidden [T, H] or pooled [H]
    pad_id: int = 0

    def batch(self, idx: list[int]) -> dict[str, torch.Tensor]:
        rows = [self.rows[i] for i in idx]
        if self.mode == "pooled":
            return {"pooled": torch.stack(rows)}
        lengths = torch.tensor([r.shape[0] for r in rows])
        mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).long()
        if self.mode == "tokens":
            ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=self.pad_id)
            return {"input_ids": ids, "attention_mask": mask}
        h = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=0.0)
        return {"inputs_embeds": h, "attention_mask": mask}


@dataclass
class Rung:
    """One model of the ladder, loaded once; `classifier(seed)` makes a fresh trainable copy."""

    name: str
    kind: str  # "encoder" | "decoder"
    tokenizer: Any  # a transformers tokenizer
    base: Any  # a transformers model (Any: nn.Module attributes type as Tensor | Module)
    cfg: RungConfig
    info: dict
    _features: dict = field(default_factory=dict)
    _top: nn.Module | None = None

    @property
    def pooling(self) -> str:
        if self.cfg.pooling != "auto":
            return self.cfg.pooling
        return "mean" if self.kind == "encoder" else "last"

    @property
    def n_layers(self) -> int:
        return len(_layers(self.base, self.kind))

    @property
    def input_mode(self) -> str:
        if self.cfg.finetune != "top":
            return "tokens"
        return "pooled" if self.cfg.train_layers == 0 else "hidden"

    def tokenize(self, texts: list[str]) -> list[torch.Tensor]:
        enc = self.tokenizer(texts, truncation=True, max_length=self._max_length)
        return [torch.tensor(ids) for ids in enc["input_ids"]]

    _max_length: int = 64

    def features(
        self, key: str, texts: list[str], max_length: int, batch_size: int = 32
    ) -> Features:
        """The inputs for `texts` under this rung's fine-tuning mode, computed once per key."""
        if key in self._features:
            return self._features[key]
        self._max_length = max_length
        ids = self.tokenize(texts)
        pad = self.tokenizer.pad_token_id or 0
        mode = self.input_mode
        if mode == "tokens":
            feats = Features("tokens", ids, pad)
        else:  # frozen prefix: computed once, read from disk in later runs too
            disk = self._disk_path(texts, max_length)
            rows, _ = once(disk, lambda: self._frozen_outputs(ids, pad, batch_size), TORCH)
            feats = Features(mode, rows, pad)
        self._features[key] = feats
        return feats

    def _frozen_outputs(self, ids: list[torch.Tensor], pad: int, batch_size: int) -> list:
        """What the frozen prefix outputs per text: pooled vectors, or the hidden states that
        the trained top blocks read."""
        mode = self.input_mode
        k = self.cfg.train_layers
        rows: list[torch.Tensor] = []
        tok = Features("tokens", ids, pad)
        self.base.eval()
        with torch.no_grad():
            for s in range(0, len(ids), batch_size):
                idx = list(range(s, min(s + batch_size, len(ids))))
                b = tok.batch(idx)
                out = self.base(**b, output_hidden_states=True, return_dict=True)
                if mode == "pooled":
                    rows.extend(pool(out.last_hidden_state, b["attention_mask"], self.pooling))
                else:  # input of block L-k: hidden_states[i] is what block i receives
                    h = out.hidden_states[self.n_layers - k]
                    rows.extend(
                        h[j, : int(b["attention_mask"][j].sum())].clone() for j in range(len(idx))
                    )
        return rows

    def _disk_path(self, texts: list[str], max_length: int) -> Path:
        """Frozen-prefix outputs depend only on the weights, the cut and the texts: cached across
        runs."""
        from driftlab.models.builtin import cache_root

        c = self.cfg
        key = key_of(
            [
                self.name,
                self.info["path"],
                self.info.get("tuned"),
                c.depth,
                c.train_layers,
                self.pooling,
                max_length,
                key_of(texts),
            ]
        )
        return cache_root() / "w2s-features" / f"{key}.pt"

    def replace_base(self, base: nn.Module, tuned: str) -> None:
        """Put new weights under this rung (e.g. after generative fine-tuning). The features and
        top blocks of the old weights are dropped, and `tuned` (what changed the weights) keys
        the on-disk feature cache, so no cached output of the old weights is read again."""
        self.base, self._features, self._top = base, {}, None
        self.info["tuned"] = tuned

    def classifier(self, seed: int) -> Classifier:
        torch.manual_seed(seed)
        hidden = self.info["hidden_size"]
        mode, cfg = self.input_mode, self.cfg
        if mode == "pooled":
            return Classifier(None, hidden, self.pooling)
        if mode == "hidden":
            body = copy.deepcopy(self.top_blocks())
        else:
            body = copy.deepcopy(self.base)
        body.train()
        if cfg.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            for p in body.parameters():
                p.requires_grad_(False)
            body = get_peft_model(
                body,
                LoraConfig(
                    r=cfg.lora_rank,
                    lora_alpha=cfg.lora_alpha,
                    target_modules="all-linear",
                    lora_dropout=0.0,
                ),
            )
        return Classifier(body, hidden, self.pooling)

    def top_blocks(self) -> nn.Module:
        """The model without its embeddings and lower blocks: it reads cached hidden states.
        Built without copying the (large) embedding matrix."""
        if self._top is None:
            k, base = self.cfg.train_layers, self.base
            if k > self.n_layers:
                raise DriftlabError(
                    f"model.train_layers = {k} but {self.name} has {self.n_layers} blocks"
                )
            holder = base.encoder if self.kind == "encoder" else base
            attr_layers, attr_emb = (
                ("layer", "embeddings") if self.kind == "encoder" else ("layers", "embed_tokens")
            )
            layers, emb = getattr(holder, attr_layers), getattr(base, attr_emb)
            setattr(holder, attr_layers, nn.ModuleList(list(layers)[-k:]))
            setattr(base, attr_emb, _PassThrough())
            try:
                top = copy.deepcopy(base)
            finally:
                setattr(holder, attr_layers, layers)
                setattr(base, attr_emb, emb)
            top.config.num_hidden_layers = k
            if getattr(top.config, "layer_types", None):
                top.config.layer_types = list(top.config.layer_types)[-k:]
            self._top = top
        return self._top


class _PassThrough(nn.Module):
    """Stands in for the embeddings of a top-blocks model: the cached states go in unchanged
    (a BERT's embedding module would add positions and normalise again)."""

    def forward(self, *args, inputs_embeds=None, **kwargs):
        return inputs_embeds


def load_rung(name: str, cfg: RungConfig) -> Rung:
    """A built-in name, local path or hub id, as a base model (no LM head) in fp32."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from driftlab.models.builtin import resolve

    path = resolve(name)
    try:
        mcfg = AutoConfig.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        base = AutoModel.from_pretrained(path, dtype=torch.float32)
    except OSError as e:
        raise DriftlabError(f"could not load model {name!r} from {path}: {e}") from None
    kind = "encoder" if mcfg.model_type in ENCODER_TYPES else "decoder"
    emb = base.get_input_embeddings().weight.numel()
    n = sum(p.numel() for p in base.parameters())  # the whole model: the x axis of size plots
    n_blocks = len(_layers(base, kind))
    base = truncate(base, kind, cfg.depth)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    base.to(cfg.device)
    base.config.use_cache = False  # no generation here; a truncated decoder's cache would mis-index
    info = {
        "name": name,
        "path": path,
        "kind": kind,
        "params": n,
        "non_embedding_params": n - emb,
        "hidden_size": base.config.hidden_size,
        "layers": n_blocks,
        "layers_used": len(_layers(base, kind)),
    }
    if cfg.finetune == "top" and cfg.train_layers > info["layers_used"]:
        raise DriftlabError(
            f"model.train_layers = {cfg.train_layers} but {name} keeps {info['layers_used']} blocks"
        )
    rung = Rung(name, kind, tok, base, cfg, info)
    info["pooling"] = rung.pooling
    return rung
