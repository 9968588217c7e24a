"""Pretraining configuration: YAML sections mapped onto dataclasses and validated up front.

A config file has the sections ``model``, ``data``, ``parallel``, ``optim``, ``train``; every
key is a field below, checked by :mod:`jinglian.core.config` as job files are (unknown keys,
types, ranges: one message naming file and field), so a typo fails at start-up rather than
hours into a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jinglian.core.config import ConfigError, Where, bounds, build, check_keys, check_value, load_yaml
from jinglian.core.filesystem import check_storage_options


@dataclass
class ModelConfig:
    preset: str = "tiny"  # a key of model.PRESETS: tiny, 125m, 1b, 7b
    vocab_size: int | None = None  # None: from `tokenizer`, else from the manifest in data.tokens_dir
    tokenizer: str | None = None  # SentencePiece .model whose vocabulary size is used
    pad_vocab_to: int = 128  # vocabulary padded to a multiple of this (times tp) for aligned, TP-divisible shards
    tie_embeddings: bool | None = None  # None: the preset's choice
    n_layers: int | None = None  # overrides of the preset's shape (None: the preset's)
    dim: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    # Continued pretraining: {hf: DIR} or {checkpoint: CKPT}, optionally tokenizer: EXTENDED.model
    # (rows for its added pieces are grown) and new_rows: mean | edges | random | zero (how they start).
    # The model's shape then comes from the checkpoint, not from the preset.
    init_from: dict | None = None


INIT_FROM_KEYS = {"hf": str | None, "checkpoint": str | None, "tokenizer": str | None,
                  "new_rows": Literal["mean", "edges", "random", "zero"]}


@dataclass
class DataConfig:
    tokens_dir: str | None = None  # tokens dir / manifest.json / blend .txt; None: synthetic tokens (smoke tests, benchmarks)
    seq_len: int = field(default=2048, metadata=bounds(ge=1))
    micro_batch_size: int = field(default=1, metadata=bounds(ge=1))  # sequences per micro-batch on each data-parallel rank
    grad_accum: int = field(default=1, metadata=bounds(ge=1))  # micro-batches per optimizer step (pipeline parallel: the pipeline's micro-batches)
    seed: int = 1234  # sample order
    cache_dir: str | None = None  # where the packed-sample index is cached; None: next to the output
    synthetic_samples: int = 100000  # size of the synthetic dataset when tokens_dir is None
    # tokens_dir in a bucket: filesystem settings such as {endpoint_url: ...} (credentials stay in the
    # environment or profile files and are refused here); shards are cached under $JINGLIAN_CACHE/shards
    storage_options: dict | None = None
    verify_shards: bool = False  # hash every cached remote shard again instead of trusting its verification record


@dataclass
class ParallelConfig:
    dp: int = field(default=1, metadata=bounds(ge=1))
    pp: int = field(default=1, metadata=bounds(ge=1))
    tp: int = field(default=1, metadata=bounds(ge=1))
    dp_mode: Literal["fsdp", "ddp"] = "fsdp"  # FSDP2 fully_shard or DistributedDataParallel (tp == 1 only)
    sequence_parallel: bool = False  # shard norms and residual stream along the sequence across the TP group
    loss_parallel: bool = True  # vocabulary-parallel cross-entropy on TP-sharded logits (no logits all-gather)
    pp_schedule: Literal["1f1b", "interleaved_1f1b"] = "1f1b"
    stages_per_rank: int = field(default=1, metadata=bounds(ge=1))  # virtual pipeline stages per rank (interleaved_1f1b needs >= 2)
    activation_checkpoint: bool = False  # recompute each block's activations in backward
    compile: bool = False  # torch.compile each block
    mixed_precision: Literal["bf16", "fp32"] = "bf16"  # bf16 autocast; applied on GPU only
    # Build the model on the meta device and initialise only this rank's shards (7b and up: no
    # full copy per rank); the weights equal a full initialisation's on the same device type.
    meta_init: bool = False


@dataclass
class OptimConfig:
    lr: float = 3e-4
    min_lr: float = 3e-5  # floor of the cosine decay
    warmup_steps: int = 100
    weight_decay: float = 0.1  # on matrices; norms are never decayed
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping


@dataclass
class TrainConfig:
    steps: int = field(default=1000, metadata=bounds(ge=1))  # optimizer steps in total
    output_dir: str = "runs/pretrain"  # metrics.jsonl, loss.png, checkpoints/
    seed: int = 0  # weight init
    log_every: int = 10
    eval_every: int = 0  # steps between validation losses; 0: never
    eval_batches: int = 10  # validation batches per evaluation, each the size of one step's global batch
    checkpoint_every: int = 0  # steps between checkpoints; 0: only at the end
    resume: bool = True  # continue from the newest checkpoint under output_dir
    peak_flops: float = 989e12  # per-device peak used for MFU (H100 SXM dense bf16)
    # Which parameters the optimizer updates: all, or only the input embedding and output head
    # (the first phase of adapting a pretrained model to new vocabulary rows).
    trainable: Literal["all", "embeddings"] = "all"
    embeddings_only_steps: int = field(default=0, metadata=bounds(ge=0))  # with trainable all: the first N steps update only embeddings + head


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def world_size(self) -> int:
        return self.parallel.dp * self.parallel.pp * self.parallel.tp

    @property
    def global_batch(self) -> int:
        return self.data.micro_batch_size * self.data.grad_accum * self.parallel.dp

    def validate(self) -> PretrainConfig:
        """Rules across fields (each field's type and range are checked when the config is built)."""
        p, d, m = self.parallel, self.data, self.model
        if d.storage_options:
            check_storage_options(d.storage_options, "data.storage_options")
        if m.init_from is not None:
            self._validate_init_from()
        elif m.vocab_size is None and m.tokenizer is None and (d.tokens_dir is None or d.tokens_dir.endswith(".txt")):
            raise ValueError("model: set vocab_size or tokenizer (or data.tokens_dir to a tokens directory with a manifest)")
        if p.dp_mode == "ddp" and p.tp > 1:
            raise ValueError("parallel.dp_mode ddp does not combine with tp > 1: use fsdp")
        if p.meta_init and p.dp > 1 and p.dp_mode == "ddp":
            raise ValueError("parallel.meta_init needs dp_mode fsdp: DDP copies weights at construction")
        if p.pp_schedule == "interleaved_1f1b" and p.stages_per_rank < 2:
            raise ValueError("parallel.pp_schedule interleaved_1f1b needs stages_per_rank >= 2")
        if p.pp_schedule == "1f1b" and p.stages_per_rank != 1:
            raise ValueError("parallel.stages_per_rank > 1 needs pp_schedule interleaved_1f1b")
        if p.pp > 1 and d.grad_accum < p.pp:
            raise ValueError(f"data.grad_accum ({d.grad_accum}) is the number of pipeline micro-batches: use >= pp ({p.pp})")
        if (self.train.trainable != "all" or self.train.embeddings_only_steps) and m.init_from is None:
            raise ValueError("train.trainable / embeddings_only_steps adapt a pretrained model: set model.init_from")
        return self

    def _validate_init_from(self) -> None:
        m, init = self.model, self.model.init_from
        where = Where(path="model.init_from")
        check_keys(init, INIT_FROM_KEYS, where)
        for key, value in init.items():
            check_value(value, INIT_FROM_KEYS[key], where.at(key))
        if not init.get("hf") and not init.get("checkpoint"):
            raise ValueError("model.init_from: missing required field 'hf' or 'checkpoint': give exactly one of hf "
                             "(a Hugging Face directory) or checkpoint")
        if init.get("hf") and init.get("checkpoint"):
            raise ValueError("model.init_from: give exactly one of hf (a Hugging Face directory) or checkpoint")
        shaped = [k for k in ("vocab_size", "tokenizer", "tie_embeddings", "n_layers", "dim", "n_heads", "n_kv_heads")
                  if getattr(m, k) is not None]
        if shaped:
            raise ValueError(f"model.init_from takes the model's shape from the checkpoint: remove model.{shaped[0]}")
        if self.parallel.meta_init:
            raise ValueError("model.init_from loads weights into a full model: parallel.meta_init does not combine with it")


def from_dict(raw: dict, file: str | None = None) -> PretrainConfig:
    """The config in ``raw`` (read from ``file``, named in messages), checked; a mistake is a :class:`ConfigError`."""
    where = Where(file)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with sections {', '.join(f.name for f in dataclasses.fields(PretrainConfig))}")
    cfg = build(PretrainConfig, raw, where, "key")
    try:
        return cfg.validate()
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}" if file else str(exc)) from None


def to_dict(cfg: PretrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def load(path: str | Path) -> PretrainConfig:
    return from_dict(load_yaml(str(path)) or {}, str(path))
