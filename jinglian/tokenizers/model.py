"""SentencePiece ModelProto helpers shared by training, extension and export.

The ``.model`` file is a serialized ``ModelProto``; working on the proto directly
(not through the trainer) is what lets extension keep every base id and score.
Next to each model we write a sidecar JSON (``<stem>.meta.json``) saying how it
was made: base hash, added pieces, training settings, what was sampled.
"""

from __future__ import annotations

import hashlib
import json
import os

from sentencepiece import sentencepiece_model_pb2 as pb

from jinglian.core.atomic import write_bytes_atomic, write_text_atomic

Piece = pb.ModelProto.SentencePiece
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE, UNUSED = (
    Piece.NORMAL,
    Piece.UNKNOWN,
    Piece.CONTROL,
    Piece.USER_DEFINED,
    Piece.BYTE,
    Piece.UNUSED,
)


def load_proto(path_or_bytes: str | bytes) -> pb.ModelProto:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    proto = pb.ModelProto()
    proto.ParseFromString(data)
    if not proto.pieces:
        raise ValueError("not a SentencePiece model (no pieces)")
    return proto


def save_proto(proto: pb.ModelProto, path: str) -> None:
    """Write atomically: a reader never sees half a model."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_bytes_atomic(path, proto.SerializeToString())


def processor(proto_or_path):
    """A ``SentencePieceProcessor`` for a proto (or a path)."""
    import sentencepiece as spm

    if isinstance(proto_or_path, str):
        return spm.SentencePieceProcessor(model_file=proto_or_path)
    return spm.SentencePieceProcessor(model_proto=proto_or_path.SerializeToString())


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(model_path: str) -> str:
    stem = model_path[: -len(".model")] if model_path.endswith(".model") else model_path
    return f"{stem}.meta.json"


def write_sidecar(model_path: str, info: dict) -> str:
    path = sidecar_path(model_path)
    info = {"model_sha256": file_sha256(model_path), **info}
    write_text_atomic(path, json.dumps(info, ensure_ascii=False, indent=2))
    return path


def read_sidecar(model_path: str) -> dict:
    with open(sidecar_path(model_path), encoding="utf-8") as f:
        return json.load(f)
