"""Pretraining at the end of ``jinglian run``: on the run's own token shards, from scratch or, with
``continue_from``, continuing a LLaMA with the run's Chinese-extended tokenizer.

The continued path is the whole recipe on one machine: (the demo: make a small random Hugging
Face LLaMA for the run's base tokenizer) -> convert it to a jinglian checkpoint -> grow its
vocabulary for the extended tokenizer -> train a few steps (embeddings and head first) -> export
to Hugging Face -> load the export with ``transformers`` and generate a few tokens.
"""

from __future__ import annotations

import os
import shutil

from jinglian.core.atomic import copy_file_atomic

RANDOM_BASE = "random"


def pretrain_after_run(config_path: str, output: str, steps: int | None = None,
                       continue_from: str | None = None) -> dict:
    """Train in this process on ``<output>/tokens``; everything goes to ``<output>/pretrain``.
    Returns where things are (``checkpoints``, and when continuing ``export``)."""
    from .config import from_dict
    from .launch import train_process

    work = os.path.join(output, "pretrain")
    extended = os.path.join(output, "tokenizer", "tokenizer.model")
    init_from = {"checkpoint": convert_base(continue_from, extended, work), "tokenizer": extended} if continue_from else None
    rows = train_process(from_dict(run_config(config_path, output, steps, init_from), config_path))
    where = {"checkpoints": os.path.join(work, "checkpoints")}
    if rows:
        last = rows[-1]
        print(f"pretrain: {last['step']} steps, loss {last['loss']:.3f}; checkpoints in {os.path.abspath(where['checkpoints'])}")
    if continue_from:
        where["export"] = export_and_generate(where["checkpoints"], extended, os.path.join(work, "hf-export"))
    return where


def check_run_config(config_path: str, output: str, steps: int | None = None, continue_from: str | None = None) -> None:
    """Validate, before the run starts, the config :func:`pretrain_after_run` will train with (the
    base checkpoint and extended tokenizer it will make stand in as names); a :class:`ConfigError` if not."""
    from .config import from_dict

    init_from = {"checkpoint": os.path.join(output, "pretrain", "base-checkpoint"),
                 "tokenizer": os.path.join(output, "tokenizer", "tokenizer.model")} if continue_from else None
    from_dict(run_config(config_path, output, steps, init_from), config_path)


def run_config(config_path: str, output: str, steps: int | None, init_from: dict | None) -> dict:
    """The config file's values with the run's token shards, output directory, steps and starting point."""
    from jinglian.core.config import ConfigError, load_yaml

    from .commands import apply_overrides

    raw = load_yaml(config_path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of config sections, got {type(raw).__name__}")
    overrides = [f"data.tokens_dir={os.path.join(output, 'tokens')}", f"train.output_dir={os.path.join(output, 'pretrain')}"]
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    apply_overrides(raw, overrides)
    if init_from:
        if not isinstance(raw.get("model"), dict):
            raw["model"] = {}
        raw["model"]["init_from"] = init_from
    return raw


def convert_base(continue_from: str, extended: str, work: str) -> str:
    """The base model as a jinglian checkpoint (``pretrain convert --from-hf``); for ``random``,
    first a small random LLaMA for the extended tokenizer's base vocabulary."""
    from .hf import import_hf

    base_dir = continue_from
    if continue_from == RANDOM_BASE:
        base_dir = os.path.join(work, "base-hf")
        make_random_llama(base_dir, base_tokenizer(extended))
        print(f"pretrain: a random LLaMA for the base tokenizer in {os.path.abspath(base_dir)}")
    ckpt = os.path.join(work, "base-checkpoint")
    shutil.rmtree(ckpt, ignore_errors=True)
    args = import_hf(base_dir, ckpt)
    print(f"pretrain: converted {base_dir} -> {ckpt} ({args.n_layers} layers, dim {args.dim}, vocabulary {args.vocab_size})")
    return ckpt


def base_tokenizer(extended: str) -> str:
    from jinglian.tokenizers.model import read_sidecar

    info = read_sidecar(extended)
    if info.get("kind") != "extended":
        raise ValueError(f"{extended}: continued pretraining needs an extended tokenizer (train_tokenizer with a base)")
    return info["base_model"]


def make_random_llama(path: str, tokenizer: str, seed: int = 0) -> None:
    """A small random LLaMA (transformers' own class, ``save_pretrained``) whose vocabulary is the
    base tokenizer's, with the tokenizer alongside: the stand-in for a real pretrained model."""
    import sentencepiece
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    _quiet_transformers()

    sp = sentencepiece.SentencePieceProcessor(model_file=tokenizer)
    config = LlamaConfig(vocab_size=sp.get_piece_size(), hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id(), tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(path)
    copy_file_atomic(tokenizer, os.path.join(path, "tokenizer.model"))


def export_and_generate(checkpoints: str, extended: str, export_dir: str, prompt: str = "数据") -> str:
    """Export the newest checkpoint (``pretrain convert --to-hf``), load it with transformers and
    greedily generate a few tokens after ``prompt`` with the extended tokenizer."""
    import sentencepiece
    import torch
    from transformers import LlamaForCausalLM

    from .checkpoint import latest
    from .hf import export_hf

    _quiet_transformers()

    ckpt = latest(checkpoints)
    shutil.rmtree(export_dir, ignore_errors=True)
    export_hf(ckpt, export_dir, tokenizer=extended)
    model = LlamaForCausalLM.from_pretrained(export_dir, dtype=torch.float32).eval()
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(export_dir, "tokenizer.model"))
    ids = [sp.bos_id(), *sp.encode(prompt)]
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False, pad_token_id=sp.eos_id())
    new = out[0, len(ids):].tolist()
    print(f"pretrain: exported {ckpt.name} -> {os.path.abspath(export_dir)} (transformers LlamaForCausalLM + tokenizer)")
    print(f"pretrain: generated with transformers from {prompt!r}: {sp.decode(new)!r} ({len(new)} tokens)")
    return export_dir


def _quiet_transformers() -> None:
    """The run's console shows our lines; transformers' and the Hub's progress bars would interleave with them."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
