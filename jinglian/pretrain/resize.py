"""Growing a pretrained model's vocabulary for a tokenizer extended with ``jinglian tokenizer extend``.

The extension keeps every base piece at its id and appends the new ones, so the base model's
embedding and output rows stay valid and only rows for the appended ids are new. Each new row
starts as the mean of the base model's rows for the pieces the *base* tokenizer splits the new
piece into: the model then reads "中国" roughly as it read "中" + "国" and predicts it where
it predicted them, instead of starting from noise (``random``) or from nothing (``zero``), the
two choices kept for comparison. Byte-fallback pieces do not count while a piece has other
parts; a character the base only knew as UTF-8 bytes gets a zero head row (a byte's head row
predicts "some byte") and the mean of its byte rows as its input row (a zero input row would
meet RMSNorm where its gradient is 1/sqrt(eps)). Rows that no text produces (the extension's
``<reserved_N>`` padding and the padding to the tensor-parallel multiple) are zero.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import torch

from jinglian.tokenizers.model import BYTE, CONTROL, UNUSED, file_sha256, load_proto, processor, read_sidecar, sidecar_path

NEW_ROW_INITS = ("mean", "edges", "random", "zero")
SPACE = "▁"


class VocabularyError(ValueError):
    """The extended tokenizer does not fit the base model."""


@dataclass
class VocabExtension:
    base_size: int  # ids below keep the base tokenizer's pieces
    size: int  # the extended tokenizer's pieces
    parts: dict[int, list[int]] = field(default_factory=dict)  # new id -> the base ids its piece splits into
    base_tokenizer: str = ""
    byte_ids: frozenset[int] = frozenset()  # the base's byte-fallback pieces

    def meaningful_parts(self, new_id: int) -> list[int]:
        """The parts whose rows stand for text: a byte-fallback piece is one UTF-8 byte shared by
        thousands of characters, so a character the base only knew as bytes has no row of its own."""
        return [p for p in self.parts[new_id] if p not in self.byte_ids]


def _base_tokenizer(extended: str, info: dict, model_dir: str | None) -> str:
    """The base tokenizer the sidecar names, found by its hash: the model directory's own
    ``tokenizer.model`` first, then the path recorded at extension time."""
    candidates = [os.path.join(model_dir, "tokenizer.model")] if model_dir else []
    recorded = info.get("base_model")
    if recorded:
        candidates += [recorded, os.path.join(os.path.dirname(os.path.abspath(extended)), recorded)]
    for path in candidates:
        if os.path.isfile(path) and file_sha256(path) == info.get("base_sha256"):
            return path
    raise VocabularyError(
        f"{extended}: none of {candidates} is the base tokenizer it extends (sha256 {info.get('base_sha256')})")


def _splitter(proto):
    """Encodes a piece's text exactly: no dummy prefix, whitespace kept (``▁`` is a space)."""
    probe = copy.deepcopy(proto)
    probe.normalizer_spec.add_dummy_prefix = False
    probe.normalizer_spec.remove_extra_whitespaces = False
    sp = processor(probe)
    return lambda piece: sp.encode(piece.replace(SPACE, " "))


def plan_extension(extended: str, model_dir: str | None = None) -> VocabExtension:
    """Check through the sidecar that ``extended`` keeps every base id, and split each added piece
    with the base tokenizer."""
    if not os.path.isfile(sidecar_path(extended)):
        raise VocabularyError(f"{extended}: no sidecar {sidecar_path(extended)}; make it with `jinglian tokenizer extend`")
    info = read_sidecar(extended)
    if info.get("kind") != "extended":
        raise VocabularyError(f"{extended}: the sidecar says kind {info.get('kind')!r}, not an extended tokenizer")
    if info.get("model_sha256") != file_sha256(extended):
        raise VocabularyError(f"{extended}: the file changed after its sidecar was written")
    base_path = _base_tokenizer(extended, info, model_dir)
    base, ext = load_proto(base_path), load_proto(extended)
    n_base = int(info["base_vocab_size"])
    if len(base.pieces) != n_base or len(ext.pieces) < n_base:
        raise VocabularyError(f"{extended}: sizes disagree with the sidecar (base {len(base.pieces)}, "
                              f"extended {len(ext.pieces)}, sidecar base_vocab_size {n_base})")
    for i in range(n_base):  # the sidecar's claim, checked: every base piece keeps its id
        if ext.pieces[i].piece != base.pieces[i].piece or ext.pieces[i].type != base.pieces[i].type:
            raise VocabularyError(f"{extended}: id {i} is {ext.pieces[i].piece!r}, the base has {base.pieces[i].piece!r}")
    split = _splitter(base)
    plan = VocabExtension(base_size=n_base, size=len(ext.pieces), base_tokenizer=base_path,
                          byte_ids=frozenset(i for i, p in enumerate(base.pieces) if p.type == BYTE))
    for i in range(n_base, len(ext.pieces)):
        if ext.pieces[i].type not in (CONTROL, UNUSED):
            plan.parts[i] = split(ext.pieces[i].piece)
    return plan


def grow_rows(weight: torch.Tensor, rows: int, plan: VocabExtension | None, init: str = "mean",
              std: float = 0.02, seed: int = 0, role: str = "tied") -> torch.Tensor:
    """``weight`` (vocab, dim) grown to ``rows``: base rows kept, each added piece's row from
    ``init``, every other new row zero. ``role`` (``input``, ``output`` or ``tied``) matters to
    ``edges`` only: an input row copies the piece's last base piece (what the model has just read
    when the piece ends), an output row its first (what the model predicts where the piece
    starts); a tied row takes the mean."""
    if init not in NEW_ROW_INITS:
        raise ValueError(f"new row init {init!r}: choose from {NEW_ROW_INITS}")
    if rows < weight.shape[0]:
        raise VocabularyError(f"cannot shrink a vocabulary of {weight.shape[0]} rows to {rows}")
    out = weight.new_zeros(rows, weight.shape[1])
    out[: weight.shape[0]] = weight
    if plan is None:
        return out
    if plan.base_size > weight.shape[0]:
        raise VocabularyError(f"the base tokenizer has {plan.base_size} pieces but the model only {weight.shape[0]} rows")
    if plan.size > rows:
        raise VocabularyError(f"the extended tokenizer has {plan.size} pieces, more than {rows} rows")
    # Rows the base model had for ids its tokenizer never produced, and now pieces take: fresh too.
    out[plan.base_size : plan.size] = 0
    new_ids = sorted(plan.parts)
    if init in ("mean", "edges"):
        for i in new_ids:
            parts = plan.meaningful_parts(i)
            if not parts and role == "output":
                # Only bytes in the base: a head row averaged from byte rows gives the piece the
                # probability of "some byte" everywhere (measured worse than zero, BENCHMARKS.md).
                continue
            if not parts:
                # An input row stays non-zero: a zero row meets RMSNorm at 0, where its gradient is
                # 1/sqrt(eps) (gradient norms of 30-300 in the demo's first steps).
                parts = plan.parts[i]
            if init == "edges" and role != "tied":
                out[i] = weight[parts[-1 if role == "input" else 0]]
            else:
                out[i] = weight[parts].float().mean(0).to(weight.dtype)
    elif init == "random" and new_ids:
        gen = torch.Generator().manual_seed(seed)
        noise = torch.empty(len(new_ids), weight.shape[1]).normal_(0.0, std, generator=gen)
        out[new_ids] = noise.to(weight.dtype)
    return out
