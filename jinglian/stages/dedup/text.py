"""Text normalisation and shingling for deduplication.

Character folding (:func:`fold`): every character is replaced by its NFKC
form, lowercased (full-width letters, digits and punctuation become
half-width, compatibility forms and ligatures unfold, case folds). It is done
character by character from a table built once per process, so it runs as a
numpy lookup; unlike whole-string NFKC it does not compose a base letter with a
separate combining mark (rare in web text).

Exact key (:func:`exact_key`): fold, then every run of punctuation, symbols and
whitespace (anything that is not a letter or digit, underscore included)
becomes one space, then strip. Two documents that differ only in width, case,
punctuation or amount of spacing get the same key.

Shingles: after folding, every CJK character (Han, kana) is a token on
its own and every run of other letters/digits is one token; everything else
separates tokens. A shingle is ``n`` consecutive tokens (a document with fewer
than ``n`` tokens has one shingle: all of them), so unspaced Chinese gets
character n-grams and English gets word n-grams from the same rule.

Shingle hashes are computed with numpy over whole batches of documents (code
points -> per-token hash -> polynomial n-gram hash). :func:`shingle_hash` is the
same function written for one shingle (a tuple of token strings): pass it to
``datasketch.MinHash(hashfunc=shingle_hash)`` and update with :func:`shingles`
to get exactly the signatures of :mod:`.minhash`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from jinglian.core.cjk import HAN_SPANS, char_class
from jinglian.stages.dedup.minhash import fmix32

# 32-bit arithmetic throughout: numpy multiplies uint32 in SIMD lanes, uint64 mostly not.
_M32 = 0xFFFFFFFF
_POLY = 0x01000193  # FNV-1 32-bit prime: the n-gram hash is a polynomial in the token hashes
_POS = 0x9E3779B9  # golden-ratio constant: mixes the position into a character

# Character classes of the code-point table.
_OTHER, _WORD, _CJK = 0, 1, 2
_CJK_RANGES = [(0x3040, 0x30FF), *HAN_SPANS]  # kana and Han: one shingle unit per character
_CJK_CLASS = char_class(_CJK_RANGES)
_TOKEN_RE = re.compile(rf"[{_CJK_CLASS}]|(?:(?![{_CJK_CLASS}])[^\W_])+")
_NOT_WORD_RE = re.compile(r"[\W_]+")
_DIGIT_RE = re.compile(r"\d")


def exact_key(text: str) -> int:
    """63-bit hash of the normalised text (see module docstring)."""
    return _hash63(_NOT_WORD_RE.sub(" ", fold(text)).strip())


def _hash63(norm: str) -> int:
    digest = hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # fits an int64 column


def line_key(line: str) -> int | None:
    """Hash of a normalised line (as :func:`exact_key`, digits folded to 0); None for a line with no letters."""
    norm = _NOT_WORD_RE.sub(" ", fold(line)).strip()
    if not norm:
        return None
    return _hash63(_DIGIT_RE.sub("0", norm))


def fold(text: str) -> str:
    """Per-character NFKC + lowercase (the reference of the vectorised folding)."""
    tables = _tables()
    return text.translate(tables.multi).translate(tables.single)


def tokens(text: str) -> list[str]:
    """Reference tokenizer (the vectorised path gives the same tokens)."""
    return _TOKEN_RE.findall(fold(text))


def shingles(text: str, n: int) -> list[tuple[str, ...]]:
    """Reference shingles of a document, in order, with repeats."""
    toks = tokens(text)
    if not toks:
        return []
    if len(toks) < n:
        return [tuple(toks)]
    return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def _fmix32(x: int) -> int:
    """MurmurHash3's 32-bit finalizer."""
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _M32
    return x ^ (x >> 16)


def token_hash(token: str) -> int:
    total = 0
    for pos, ch in enumerate(token, start=1):
        total = (total + _fmix32(ord(ch) ^ ((pos * _POS) & _M32))) & _M32
    return _fmix32(total ^ len(token))


def shingle_hash(shingle: tuple[str, ...]) -> int:
    """32-bit hash of one shingle: the hashfunc to give datasketch for parity."""
    acc = 0
    for tok in shingle:
        acc = (acc * _POLY + token_hash(tok)) & _M32
    return _fmix32(acc)


# Code points scanned when building the tables: planes 0-3 (all scripts, CJK extensions,
# compatibility ideographs) and plane 14 (tags, variation selectors). Others are unassigned
# or private use: they fold to themselves and are no letters.
_SCANNED = [(0, 0x40000), (0xE0000, 0xE1000)]


@dataclass(frozen=True)
class _Tables:
    single: dict  # code point -> code point, where the folded form is one character
    multi: dict  # code point -> string, where it is several
    mapped: np.ndarray  # uint32 per code point: single-character folding (identity elsewhere)
    expands: np.ndarray  # bool per code point: folds to several characters
    classes: np.ndarray  # uint8 per code point of folded text: _OTHER, _WORD or _CJK


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Built once per process (about a second)."""
    single, multi = {}, {}
    mapped = np.arange(0x110000, dtype=np.uint32)
    expands = np.zeros(0x110000, bool)
    classes = np.zeros(0x110000, np.uint8)
    for lo, hi in _SCANNED:
        for cp in range(lo, hi):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            if ch.isalnum():
                classes[cp] = _WORD
            folded = unicodedata.normalize("NFKC", ch).lower()
            if folded == ch:
                continue
            if len(folded) == 1:
                single[cp] = ord(folded)
                mapped[cp] = ord(folded)
            else:
                multi[cp] = folded
                expands[cp] = True
    for a, b in _CJK_RANGES:
        classes[a : b + 1] = np.where(classes[a : b + 1] == _WORD, _CJK, classes[a : b + 1])
    return _Tables(single, multi, mapped, expands, classes)


def _code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Folded code points of all texts, concatenated, and each text's length."""
    tables = _tables()
    encoded = [t.encode("utf-32-le", "surrogatepass") for t in texts]
    cps = np.frombuffer(b"".join(encoded), np.uint32)
    lengths = np.fromiter((len(e) // 4 for e in encoded), np.int64, len(encoded))
    expanding = tables.expands[cps]
    if expanding.any():  # rare characters (ligatures, ellipsis, circled forms): re-encode those documents
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        hit = np.add.reduceat(expanding, starts) > 0 if len(cps) else np.zeros(len(texts), bool)
        hit &= lengths > 0
        for i in np.flatnonzero(hit).tolist():
            encoded[i] = texts[i].translate(tables.multi).encode("utf-32-le", "surrogatepass")
        cps = np.frombuffer(b"".join(encoded), np.uint32)
        lengths = np.fromiter((len(e) // 4 for e in encoded), np.int64, len(encoded))
    return tables.mapped[cps], lengths


def shingle_hash_batch(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of many documents at once.

    Returns ``(hashes uint32, offsets int64)``: document ``i`` has
    ``hashes[offsets[i]:offsets[i+1]]`` (with repeats, in order).
    """
    cps, lengths = _code_points(texts)
    cls = _tables().classes[cps]
    is_tok = cls != _OTHER
    prev_word = np.empty(len(cls), bool)
    prev_word[:1] = False
    prev_word[1:] = cls[:-1] == _WORD
    doc_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    prev_word[doc_start[lengths > 0]] = False  # a token never runs across documents
    starts_mask = is_tok & ((cls == _CJK) | ~prev_word)
    # Token characters, concatenated; each token's first index among them; position inside it.
    tok_cps = cps[is_tok]
    first_char = np.flatnonzero(starts_mask[is_tok])
    tok_len = np.diff(np.append(first_char, len(tok_cps))).astype(np.uint32)
    pos = np.arange(1, len(tok_cps) + 1, dtype=np.uint32) - np.repeat(first_char.astype(np.uint32), tok_len)
    mixed = fmix32(tok_cps ^ (pos * np.uint32(_POS)))
    sums = np.add.reduceat(mixed, first_char, dtype=np.uint32) if len(first_char) else np.zeros(0, np.uint32)
    th = fmix32(sums ^ tok_len)
    # Tokens per document, shingles per document.
    # (a running sum, not reduceat: that fails on empty documents at the end of the batch)
    tok_csum = np.concatenate([[0], np.cumsum(starts_mask, dtype=np.int64)])
    ntok = tok_csum[doc_start + lengths] - tok_csum[doc_start]
    tok_off = np.concatenate([[0], np.cumsum(ntok)]).astype(np.int64)
    nsh = np.where(ntok >= n, ntok - n + 1, np.minimum(ntok, 1))
    sh_off = np.concatenate([[0], np.cumsum(nsh)]).astype(np.int64)
    # Polynomial hash of the n tokens starting at every token (zero-padded past the end) ...
    padded = np.concatenate([th, np.zeros(n, np.uint32)])
    acc = padded[: len(th)].copy()
    for k in range(1, n):
        acc *= np.uint32(_POLY)
        acc += padded[k : k + len(th)]
    # ... taken where a full shingle starts; a document shorter than n tokens has one shingle of all of them.
    sh_doc = np.repeat(np.arange(len(texts)), nsh)
    first = tok_off[sh_doc] + (np.arange(sh_off[-1]) - sh_off[sh_doc])
    out = acc[first] if len(first) else np.zeros(0, np.uint32)
    for d in np.flatnonzero((ntok > 0) & (ntok < n)).tolist():
        short = 0
        for t in th[tok_off[d] : tok_off[d + 1]].tolist():
            short = (short * _POLY + t) & _M32
        out[sh_off[d]] = short
    return fmix32(out), sh_off
