"""Export a SentencePiece model for training frameworks.

Writes ``tokenizer.model`` plus the files ``transformers`` reads
(``tokenizer_config.json``, ``special_tokens_map.json``) so that
``LlamaTokenizer.from_pretrained(dir)`` / ``AutoTokenizer`` load it; the sidecar
travels along. Megatron-style loaders take ``tokenizer.model`` directly.
"""

from __future__ import annotations

import json
import os

from jinglian.core.atomic import copy_file_atomic, write_text_atomic
from jinglian.tokenizers.model import CONTROL, load_proto, sidecar_path


def _special(proto) -> dict:
    spec = proto.trainer_spec

    def piece(idx: int) -> str | None:
        return proto.pieces[idx].piece if 0 <= idx < len(proto.pieces) else None

    return {"bos_token": piece(spec.bos_id), "eos_token": piece(spec.eos_id), "unk_token": piece(spec.unk_id),
            "pad_token": piece(spec.pad_id)}


def export_hf(model_path: str, out_dir: str, model_max_length: int = 4096) -> list[str]:
    """Write the export into ``out_dir``; returns the files written."""
    proto = load_proto(model_path)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "tokenizer.model")
    written = [target]
    if os.path.abspath(model_path) != os.path.abspath(target):
        copy_file_atomic(model_path, target)
        if os.path.exists(sidecar_path(model_path)):
            copy_file_atomic(sidecar_path(model_path), sidecar_path(target))
            written.append(sidecar_path(target))
    special = {k: v for k, v in _special(proto).items() if v is not None}
    # Control pieces other than bos/eos/pad (padding slots) are special tokens too: never split, skipped on decode.
    reserved = [p.piece for p in proto.pieces if p.type == CONTROL and p.piece not in special.values()]
    config = {
        "tokenizer_class": "LlamaTokenizer",
        **special,
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": True,  # SentencePiece's own handling of the dummy prefix
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "vocab_size": len(proto.pieces),
    }
    if reserved:
        config["additional_special_tokens"] = reserved
    files = {
        "tokenizer_config.json": config,
        "special_tokens_map.json": {**special, **({"additional_special_tokens": reserved} if reserved else {})},
    }
    for name, content in files.items():
        path = os.path.join(out_dir, name)
        write_text_atomic(path, json.dumps(content, ensure_ascii=False, indent=2))
        written.append(path)
    return written
