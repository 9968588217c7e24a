"""Continued pretraining: start from a pretrained checkpoint instead of a random initialisation.

``model.init_from`` names a Hugging Face directory (``hf``) or a jinglian checkpoint
(``checkpoint``), and optionally an extended tokenizer (``tokenizer``) whose added pieces get
new embedding and output rows (``resize.py``). The model's shape comes from the checkpoint;
its vocabulary is the larger of the checkpoint's and the tokenizer's, padded to
``pad_vocab_to * tp``. Weights are copied one tensor at a time into the full model before it
is parallelised.
"""

from __future__ import annotations

import math
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
                weight = grow_rows(weight, self.args.vocab_size, self.extension, self.new_rows,
                                   std=self.args.init_std, seed=self.seed)
            params[name].copy_(weight)


def prepare(cfg: PretrainConfig) -> WarmStart:
    init = cfg.model.init_from
    source = open_checkpoint(init["hf"] if init.get("hf") else init["checkpoint"])
    extension = plan_extension(init["tokenizer"], init.get("hf")) if init.get("tokenizer") else None
    size = max(source.args.vocab_size, extension.size if extension else 0)
    multiple = cfg.model.pad_vocab_to * cfg.parallel.tp
    args = replace(source.args, vocab_size=multiple * math.ceil(size / multiple), max_seq_len=cfg.data.seq_len)
    return WarmStart(source, args, extension, init.get("new_rows", "mean"), cfg.train.seed)
