"""A LLaMA-style decoder in one plain ``nn.Module``, read top to bottom.

Pre-RMSNorm residual blocks, grouped-query attention with rotary position embeddings,
SwiGLU feed-forward, optionally tied input/output embeddings. Nothing here knows about
parallelism: ``parallel.py`` shards it from the outside. Two choices exist for that:

* ``layers`` is an ``nn.ModuleDict`` keyed by the global layer index, and the embedding,
  final norm and output head may be ``None``. A pipeline stage is this same model with
  the other layers deleted, so parameter names (``layers.7.attention.wq.weight``) stay
  those of the full model and checkpoints reshard across pipeline layouts.
* Attention reshapes with ``-1`` heads, so a tensor-parallel shard that holds
  ``n_heads / tp`` heads runs the same code.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelArgs:
    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # None: plain multi-head attention
    vocab_size: int = 32000
    ffn_hidden: int | None = None  # None: LLaMA's 2/3 * 4 * dim rounded up to multiple_of
    multiple_of: int = 256
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # None, or Hugging Face's rope_scaling of a converted model: {"rope_type": "linear" | "llama3", "factor": ...}
    rope_scaling: dict | None = None
    max_seq_len: int = 4096
    tie_embeddings: bool = False
    init_std: float = 0.02

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        if self.ffn_hidden:
            return self.ffn_hidden
        hidden = int(2 * 4 * self.dim / 3)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)


PRESETS: dict[str, ModelArgs] = {
    "tiny": ModelArgs(dim=64, n_layers=4, n_heads=4, n_kv_heads=2, multiple_of=32, max_seq_len=256),
    "125m": ModelArgs(dim=768, n_layers=12, n_heads=12, max_seq_len=2048, tie_embeddings=True),
    "1b": ModelArgs(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_hidden=8192, max_seq_len=2048,
                    tie_embeddings=True, rope_theta=500000.0),
    "7b": ModelArgs(dim=4096, n_layers=32, n_heads=32, ffn_hidden=11008, max_seq_len=4096),  # LLaMA-2-7B
}


def model_args(preset: str, vocab_size: int, **overrides) -> ModelArgs:
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose from {sorted(PRESETS)}")
    return replace(PRESETS[preset], vocab_size=vocab_size, **overrides)


def at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    """fp32 for half-precision inputs; fp64 stays fp64 (numerical equivalence tests run in it)."""
    return torch.promote_types(dtype, torch.float32)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in at least fp32 even under bf16 autocast: the mean of squares loses precision otherwise.
        xf = x.to(at_least_fp32(x.dtype))
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_frequencies(head_dim: int, theta: float, scaling: dict | None = None) -> torch.Tensor:
    """Rotation frequency of each pair of dimensions, with Hugging Face's ``rope_scaling`` types
    ``linear`` (every frequency divided by ``factor``) and ``llama3`` (LLaMA-3.1's context
    extension: long wavelengths divided by ``factor``, short ones kept, a smooth blend between)."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return freqs
    factor = float(scaling["factor"])
    if kind == "linear":
        return freqs / factor
    if kind == "llama3":
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old_context = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / freqs
        # 0 at wavelengths beyond old_context / low (scaled fully), 1 below old_context / high (kept)
        smooth = ((old_context / wavelen - low) / (high - low)).clamp(0.0, 1.0)
        return (1 - smooth) * freqs / factor + smooth * freqs
    raise ValueError(f"rope_scaling type {kind!r} is not supported (default, linear, llama3)")


def rope_tables(head_dim: int, max_seq_len: int, theta: float, scaling: dict | None = None) -> torch.Tensor:
    """cos and sin of every (position, frequency) pair, stacked: (2, max_seq_len, head_dim / 2)."""
    freqs = rope_frequencies(head_dim, theta, scaling)
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), freqs)
    return torch.stack([angles.cos(), angles.sin()]).float()


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x`` (B, T, H, D) by position-dependent angles."""
    cos, sin = rope[0, : x.shape[1], None, :], rope[1, : x.shape[1], None, :]
    x1, x2 = x.to(at_least_fp32(x.dtype)).unflatten(-1, (-1, 2)).unbind(-1)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    return out.type_as(x)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.head_dim = args.head_dim
        self.wq = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
        self.wo = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)
        self.grouped = args.kv_heads != args.n_heads

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        bsz, seq, _ = x.shape
        q = self.wq(x).view(bsz, seq, -1, self.head_dim)
        k = self.wk(x).view(bsz, seq, -1, self.head_dim)
        v = self.wv(x).view(bsz, seq, -1, self.head_dim)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        # SDPA wants (B, H, T, D); it picks flash attention on GPU and repeats kv heads itself.
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=self.grouped
        )
        return self.wo(out.transpose(1, 2).reshape(bsz, seq, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w1 = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.w3 = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.w2 = nn.Linear(args.hidden_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.attention = Attention(args)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.feed_forward = FeedForward(args)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), rope)
        return x + self.feed_forward(self.ffn_norm(x))


def initial_value(args: ModelArgs, name: str, shape: torch.Size, seed: int, device) -> torch.Tensor:
    """The initial value of parameter ``name``: ones for norms; Normal(0, init_std) for matrices, with
    each residual branch's output projection scaled by 1/sqrt(2 n_layers) (GPT-2). Drawn from a
    generator seeded by (seed, name), so a parameter's value does not depend on which others exist:
    a pipeline stage or a shard initialised on its own gets the same numbers as the full model."""
    if len(shape) == 1:
        return torch.ones(shape, device=device)
    std = args.init_std / math.sqrt(2 * args.n_layers) if name.endswith(("wo.weight", "w2.weight")) else args.init_std
    gen = torch.Generator(device=device).manual_seed(seed * 2**32 + zlib.crc32(name.encode()))
    return torch.empty(shape, device=device).normal_(0.0, std, generator=gen)


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs, seed: int = 0):
        super().__init__()
        self.args, self.seed = args, seed
        self.tok_embeddings: nn.Embedding | None = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleDict({str(i): Block(args) for i in range(args.n_layers)})
        self.norm: RMSNorm | None = RMSNorm(args.dim, args.norm_eps)
        self.output: nn.Linear | None = nn.Linear(args.dim, args.vocab_size, bias=False)
        self.register_buffer("rope", torch.empty(2, args.max_seq_len, args.head_dim // 2), persistent=False)
        if args.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        if self.rope.is_meta:  # parallel.materialize initialises it shard by shard
            return
        self.init_buffers()
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(initial_value(args, name, p.shape, seed, p.device))

    def init_buffers(self) -> None:
        with torch.no_grad():
            a = self.args
            self.rope.copy_(rope_tables(a.head_dim, a.max_seq_len, a.rope_theta, a.rope_scaling))

    def forward(self, tokens_or_hidden: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> logits (B, T, vocab). A pipeline stage without the embedding
        takes hidden states instead, and one without the head returns them."""
        h = self.tok_embeddings(tokens_or_hidden) if self.tok_embeddings is not None else tokens_or_hidden
        for layer in self.layers.values():
            h = layer(h, self.rope)
        if self.norm is not None:
            h = self.norm(h)
        return self.output(h) if self.output is not None else h


def num_params(args: ModelArgs, embeddings: bool = True) -> int:
    per_layer = 2 * args.dim + args.dim * args.head_dim * (2 * args.n_heads + 2 * args.kv_heads) + 3 * args.dim * args.hidden_dim
    total = args.n_layers * per_layer + args.dim + args.vocab_size * args.dim  # blocks, final norm, output head
    if embeddings and not args.tie_embeddings:
        total += args.vocab_size * args.dim
    return total


def flops_per_token(args: ModelArgs, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward) as in the PaLM paper's MFU definition:
    6 per matmul weight plus 12 * n_layers * dim * seq_len for the attention scores and values
    (the full score matrix, although causal attention computes half of it)."""
    matmul_params = num_params(args, embeddings=False) - args.n_layers * 2 * args.dim - args.dim
    return 6 * matmul_params + 12 * args.n_layers * args.dim * seq_len
