"""KV cache for driftlab's decode loop: in-place buffers, and a prompt prefix stored once.

Two costs of transformers' `DynamicCache` on a CPU, measured with SmolLM2-135M on 2 cores
(benchmarks/throughput.py): it grows by concatenation, copying the whole cache at every
step; and when many rows share a prompt prefix (the n samples of a prompt, a few-shot
preamble shared by all prompts), every row keeps and reads its own copy of the prefix. At 60
rows of a 300-token few-shot prompt, attention reading those copies took a quarter of a
decode step (torch profiler), and the copies hold 0.8 GB (60 x 300 tokens x 46 KB).

`BufferLayer` writes into a buffer sized once, and rows can be dropped (`batch_select_indices`)
or added (`merge`, right-aligned) between steps. A layer given a prefix (`attach_prefix`)
keeps it once; `prefix_attention` (registered with transformers as the attention
implementation "driftlab_prefix") scores every row's query against that single copy in one
matrix product for the whole batch, and against the row's own keys, then takes one softmax
over both: the same attention, read from one copy of the prefix.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "driftlab_prefix"
_active: list[DynamicCache] = []  # the cache of the decode loop now running (prefix_attention)


class BufferLayer(DynamicLayer):
    """A KV layer that writes into a buffer sized once for the batch, instead of concatenating.

    `keys`/`values` are views of the rows' own filled part; the shared prefix, if any, lives
    apart in `prefix_k`/`prefix_v` ([1, heads, P, dim]).
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self.shared = 0
        self.prefix_k: torch.Tensor | None = None
        self.prefix_v: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        b, h = key_states.shape[:2]
        self.kbuf = key_states.new_empty((b, h, self.capacity, key_states.shape[-1]))
        self.vbuf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV buffer of {self.capacity} tokens cannot hold {end}")
        self.kbuf[:, :, self.length : end] = key_states
        self.vbuf[:, :, self.length : end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def _views(self) -> None:
        self.keys = self.kbuf[:, :, : self.length]
        self.values = self.vbuf[:, :, : self.length]

    def attach_prefix(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Every row of this layer continues the prefix whose keys/values ([1, ...]) these are."""
        self.prefix_k, self.prefix_v, self.shared = keys, values, keys.shape[-2]

    def merge(self, other: BufferLayer) -> None:
        """Append other's rows, right-aligned: the shorter side gets zero columns on the left
        (masked out; zero, not garbage, since masked scores still multiply the values)."""
        width = max(self.length, other.length)
        cap = width + max(self.capacity - self.length, other.capacity - other.length)

        def join(a: torch.Tensor, la: int, b: torch.Tensor, lb: int) -> torch.Tensor:
            out = a.new_zeros((a.shape[0] + b.shape[0], a.shape[1], cap, a.shape[-1]))
            out[: a.shape[0], :, width - la : width] = a[:, :, :la]
            out[a.shape[0] :, :, width - lb : width] = b[:, :, :lb]
            return out

        self.kbuf = join(self.kbuf, self.length, other.kbuf, other.length)
        self.vbuf = join(self.vbuf, self.length, other.vbuf, other.length)
        self.length, self.capacity = width, cap
        self._views()

    def drop_front(self, columns: int) -> None:
        """Forget the first own columns (padding no row attends to any more)."""
        self.kbuf, self.vbuf = self.kbuf[:, :, columns:], self.vbuf[:, :, columns:]
        self.length, self.capacity = self.length - columns, self.capacity - columns
        self._views()

    def get_seq_length(self) -> int:
        return self.shared + self.length

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self.kbuf = self.kbuf.repeat_interleave(repeats, dim=0)
            self.vbuf = self.vbuf.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self.kbuf = self.kbuf[indices]
            self.vbuf = self.vbuf[indices]
            self._views()


def new_cache(model, capacity: int) -> DynamicCache:
    """A cache of buffer layers where every layer attends to all positions, else a DynamicCache."""
    cache = DynamicCache(config=model.config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [BufferLayer(capacity) for _ in cache.layers]
    return cache


def can_share_prefix(cache: DynamicCache) -> bool:
    """Whether this cache can hold a shared prefix and take rows in (all layers buffered)."""
    return bool(cache.layers) and all(isinstance(layer, BufferLayer) for layer in cache.layers)


class SharedPrefix:
    """`with SharedPrefix(model):` runs the model's attention through `prefix_attention`."""

    def __init__(self, model) -> None:
        self.config = model.config

    def __enter__(self) -> None:
        self.before = self.config._attn_implementation
        self.config._attn_implementation = ATTENTION

    def __exit__(self, *exc) -> None:
        self.config._attn_implementation = self.before


@contextmanager
def active(cache: DynamicCache):
    """The cache `prefix_attention` reads the prefix from, during one forward pass."""
    _active.append(cache)
    try:
        yield
    finally:
        _active.pop()


def prefix_attention(
    module,
    query,
    key,
    value,
    attention_mask,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
):
    """Attention over [shared prefix | the row's own keys], the prefix read once per batch.

    query [B, Hq, q, d]; key/value [B, Hkv, R, d] (the rows' own part); attention_mask
    [B, 1, q, P + R] (True: attend) or None (causal). Query head h reads key head h // g.
    """
    layer = _active[-1].layers[module.layer_idx] if _active else None
    if not isinstance(layer, BufferLayer) or layer.prefix_k is None or layer.prefix_v is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    b, hq, q, d = query.shape
    hkv, p = key.shape[1], layer.shared
    g = hq // hkv
    scale = scaling if scaling is not None else d**-0.5
    qg = query.reshape(b, hkv, g * q, d)
    rows = torch.matmul(qg, key.transpose(-1, -2))  # [B, Hkv, g*q, R]
    flat = qg.transpose(0, 1).reshape(hkv, b * g * q, d)  # every row's queries, per key head
    pre = torch.matmul(flat, layer.prefix_k[0].transpose(-1, -2))  # [Hkv, B*g*q, P]
    scores = torch.cat([pre.view(hkv, b, g * q, p).transpose(0, 1), rows], dim=-1) * scale
    width = scores.shape[-1]
    if attention_mask is None:  # causal: query i sits at position width - q + i
        cols = torch.arange(width, device=query.device)
        attention_mask = (cols[None, :] <= cols[width - q :, None])[None, None]
    m = attention_mask[:, :, None].expand(-1, -1, g, -1, -1).reshape(-1, 1, g * q, width)
    scores = scores.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else scores + m
    probs = scores.softmax(-1)
    out = torch.matmul(probs[..., p:], value)
    shared = probs[..., :p].transpose(0, 1).reshape(hkv, b * g * q, p)
    out = out + torch.matmul(shared, layer.prefix_v[0]).view(hkv, b, g * q, d).transpose(0, 1)
    return out.reshape(b, hq, q, d).transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, prefix_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)
