"""Continued pretraining: start from a pretrained checkpoint instead of a random initialisation.

``model.init_from`` names a Hugging Face directory (``hf``) or a jinglian checkpoint
(``checkpoint``), and optionally an extended tokenizer (``tokenizer``) whose added pieces get
new embedding and output rows (``resize.py``). The model's shape comes from the checkpoint;
its vocabulary is the larger of the checkpoint's and the tokenizer's, padded to
``pad_vocab_to * tp``. Weights are copied one tensor at a time into the full model before it
is parallelised.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace

import torch

from .config import PretrainConfig
from .hf import HFCheckpoint, JinglianCheckpoint, open_checkpoint, param_names
from .model import ModelArgs, Transformer
from .resize import VocabExtension, grow_rows, plan_extension

_VOCAB_ROWS = ("tok_embeddings.weight", "output.weight")


@dataclass
class WarmStart:
    source: HFCheckpoint | JinglianCheckpoint
    args: ModelArgs  # the model to build: the source's shape, the grown vocabulary
    extension: VocabExtension | None
    new_rows: str
    seed: int

    @property
    def hf_config(self) -> dict | None:
        return self.source.config if isinstance(self.source, HFCheckpoint) else self.source.hf_config

    @torch.no_grad()
    def load_into(self, model: Transformer) -> None:
        """Copy the source's weights into ``model`` (built from ``self.args``), growing the vocabulary rows."""
        params = dict(model.named_parameters())
        for name in param_names(self.source.args):
            weight = self.source.tensor(name)
            if name in _VOCAB_ROWS:
                role = "tied" if self.args.tie_embeddings else "input" if name == "tok_embeddings.weight" else "output"
                weight = grow_rows(weight, self.args.vocab_size, self.extension, self.new_rows,
                                   std=self.args.init_std, seed=self.seed, role=role)
            params[name].copy_(weight)


def prepare(cfg: PretrainConfig) -> WarmStart:
    init = cfg.model.init_from
    source = open_checkpoint(init["hf"] if init.get("hf") else init["checkpoint"])
    # The base tokenizer is looked for in the model's directory (import_hf copies it along) first.
    model_dir = init.get("hf") or init.get("checkpoint")
    extension = plan_extension(init["tokenizer"], model_dir) if init.get("tokenizer") else None
    size = max(source.args.vocab_size, extension.size if extension else 0)
    multiple = cfg.model.pad_vocab_to * cfg.parallel.tp
    args = replace(source.args, vocab_size=multiple * math.ceil(size / multiple), max_seq_len=cfg.data.seq_len)
    check_token_shards(cfg.data.tokens_dir, init.get("tokenizer"), size, cfg.data.storage_options)
    return WarmStart(source, args, extension, init.get("new_rows", "mean"), cfg.train.seed)


def check_token_shards(tokens_dir: str | None, tokenizer: str | None, vocab: int,
                       storage_options: dict | None = None) -> None:
    """Refuse shards another tokenizer wrote (their manifest records its hash): ids of one
    vocabulary fed to a model grown for another train silently on the wrong rows."""
    from jinglian.core.filesystem import is_remote

    if not tokens_dir or tokens_dir.endswith(".txt"):
        return
    if is_remote(tokens_dir):  # shards in a bucket: the same check on their manifest
        from jinglian.pretrain.shard_cache import read_manifest

        made_with = read_manifest(tokens_dir, storage_options).get("tokenizer", {})
    else:
        path = os.path.join(tokens_dir, "manifest.json") if os.path.isdir(tokens_dir) else tokens_dir
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            made_with = json.load(f).get("tokenizer", {})
    if tokenizer and made_with.get("sha256"):
        from jinglian.tokenizers.model import file_sha256

        if made_with["sha256"] != file_sha256(tokenizer):
            raise ValueError(f"{tokens_dir} was tokenized with {made_with.get('path')}, not model.init_from.tokenizer {tokenizer}")
    if int(made_with.get("vocab_size", 0)) > vocab:
        raise ValueError(f"{tokens_dir}: token ids up to {made_with['vocab_size']} but the model has {vocab} rows")
