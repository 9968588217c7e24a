"""Megatron-LM ``IndexedDataset`` shards: ``<prefix>.bin`` + ``<prefix>.idx``.

``.bin`` holds the token ids of every document back to back. ``.idx`` is::

    b"MMIDIDX\\x00\\x00"           9-byte magic
    <Q version = 1
    <B dtype code                 (Megatron's DType: uint16 = 8, int32 = 4, ...)
    <Q sequence count  N
    <Q document count  N + 1      (length of the document-index array below)
    int32[N]  sequence lengths    (tokens)
    int64[N]  sequence pointers   (byte offsets into .bin)
    int64[N+1] document indices   (0, 1, ..., N: one sequence per document)

Megatron-LM reads these files unchanged (its ``--data-path`` takes the prefix).
Writing is atomic: both files go to temporary names and the ``.idx`` is renamed
last, so an ``.idx`` on disk means its ``.bin`` is complete.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct

import numpy as np

from jinglian.core.atomic import temp_path_for

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER_SIZE = len(MAGIC) + 8 + 1 + 8 + 8
# Megatron-LM's DType codes.
DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}


class ShardError(ValueError):
    """A shard that is not a readable, self-consistent ``IndexedDataset``."""


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The smallest Megatron token dtype that holds every id of the vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)


def shard_prefix(path: str) -> str:
    """``x.bin`` / ``x.idx`` / ``x`` -> ``x``."""
    for ext in (".bin", ".idx"):
        if path.endswith(ext):
            return path[: -len(ext)]
    return path


class ShardWriter:
    """Streams documents into one shard pair; ``commit()`` makes it visible.

    The sha256 of both files is computed from the bytes as they are written
    (``checksums`` after ``commit()``), so nothing is read back to checksum it.
    """

    def __init__(self, prefix: str, dtype: np.dtype):
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"dtype {self.dtype} has no Megatron code")
        self._tmp_bin, self._tmp_idx = temp_path_for(prefix + ".bin"), temp_path_for(prefix + ".idx")
        self._bin = open(self._tmp_bin, "wb")
        self._bin_sha = hashlib.sha256()
        self._lengths: list[np.ndarray] = []
        self.docs = 0
        self.tokens = 0
        self.checksums: dict[str, str] = {}

    def add(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as their tokens back to back (in the shard's dtype) and their lengths."""
        if tokens.dtype != self.dtype or not tokens.flags.c_contiguous:
            raise ValueError(f"tokens must be a contiguous {self.dtype} array, got {tokens.dtype}")
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != tokens.size:
            raise ValueError(f"lengths sum to {int(lengths.sum())} but {tokens.size} tokens were given")
        self._bin.write(tokens)
        self._bin_sha.update(tokens)
        self._lengths.append(lengths)
        self.docs += len(lengths)
        self.tokens += int(tokens.size)

    def add_many(self, docs: list) -> None:
        """Append several documents (sequences of ids) with one write."""
        lengths = [len(d) for d in docs]
        flat = np.fromiter(itertools.chain.from_iterable(docs), dtype=self.dtype, count=sum(lengths))
        self.add(flat, np.asarray(lengths, dtype=np.int64))

    def commit(self) -> None:
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        idx = index_bytes(lengths, self.dtype)
        with open(self._tmp_idx, "wb") as f:
            f.write(idx)
        self.checksums = {"bin": self._bin_sha.hexdigest(), "idx": hashlib.sha256(idx).hexdigest()}
        os.replace(self._tmp_bin, self.prefix + ".bin")
        os.replace(self._tmp_idx, self.prefix + ".idx")

    def abort(self) -> None:
        self._bin.close()
        for tmp in (self._tmp_bin, self._tmp_idx):
            if os.path.exists(tmp):
                os.remove(tmp)


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The ``.idx`` content for documents of the given lengths (one sequence each)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() > np.iinfo(np.int32).max:
        raise ValueError("a document longer than 2**31-1 tokens cannot be indexed")
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1] * np.dtype(dtype).itemsize, out=pointers[1:])
    header = MAGIC + struct.pack("<QBQQ", VERSION, DTYPE_CODES[np.dtype(dtype)], n, n + 1)
    return b"".join(
        [header, lengths.astype(np.int32).tobytes(), pointers.tobytes(), np.arange(n + 1, dtype=np.int64).tobytes()]
    )


def write_shard(prefix: str, docs: list, dtype) -> None:
    """Write a whole shard at once (tests, small outputs)."""
    writer = ShardWriter(prefix, dtype)
    try:
        writer.add_many([list(d) for d in docs])
    except BaseException:
        writer.abort()
        raise
    writer.commit()


class Shard:
    """Read side: header + index arrays parsed, tokens through ``numpy.memmap``."""

    def __init__(self, prefix: str):
        self.prefix = shard_prefix(prefix)
        header = _read_header(self.prefix + ".idx")
        self.dtype, self.num_sequences, self.num_doc_indices = header
        n = self.num_sequences
        idx = np.memmap(self.prefix + ".idx", dtype=np.uint8, mode="r")
        _check_size(self.prefix + ".idx", idx.size, HEADER_SIZE + n * 4 + n * 8 + self.num_doc_indices * 8)
        self.lengths = np.frombuffer(idx, np.int32, n, HEADER_SIZE)
        self.pointers = np.frombuffer(idx, np.int64, n, HEADER_SIZE + 4 * n)
        self.document_indices = np.frombuffer(idx, np.int64, self.num_doc_indices, HEADER_SIZE + 12 * n)
        bin_size = os.path.getsize(self.prefix + ".bin")
        if bin_size % self.dtype.itemsize:  # a cut mid-token: numpy cannot even map it, so say what it is
            expected = int(self.lengths.astype(np.int64).sum()) * self.dtype.itemsize
            what = "truncated" if bin_size < expected else "has trailing bytes"
            raise ShardError(f"{self.prefix}.bin: {what}: {bin_size} bytes, not a whole number of "
                             f"{self.dtype.name} tokens (header implies {expected})")
        self.num_tokens = bin_size // self.dtype.itemsize
        # A plain ndarray view of the memmap: slicing it skips np.memmap's per-slice overhead.
        if bin_size:
            self.tokens = np.memmap(self.prefix + ".bin", dtype=self.dtype, mode="r").view(np.ndarray)
        else:
            self.tokens = np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return self.num_sequences

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.lengths[i])]


def _read_header(idx_path: str) -> tuple[np.dtype, int, int]:
    try:
        with open(idx_path, "rb") as f:
            raw = f.read(HEADER_SIZE)
    except FileNotFoundError:
        raise ShardError(f"{idx_path}: missing") from None
    if len(raw) < HEADER_SIZE:
        raise ShardError(f"{idx_path}: truncated header ({len(raw)} of {HEADER_SIZE} bytes)")
    if raw[: len(MAGIC)] != MAGIC:
        raise ShardError(f"{idx_path}: bad magic {raw[:len(MAGIC)]!r}, expected {MAGIC!r}")
    version, code, n, ndoc = struct.unpack("<QBQQ", raw[len(MAGIC) :])
    if version != VERSION:
        raise ShardError(f"{idx_path}: unsupported version {version}, expected {VERSION}")
    if code not in CODE_DTYPES:
        raise ShardError(f"{idx_path}: unknown dtype code {code}")
    return CODE_DTYPES[code], n, ndoc


def _check_size(path: str, actual: int, expected: int) -> None:
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise ShardError(f"{path}: {what}: {actual} bytes, header implies {expected}")


def verify(prefix: str, checksums: dict | None = None) -> Shard:
    """Check a shard pair thoroughly; raise :class:`ShardError` naming the first problem.

    Header (magic, version, dtype code), the ``.idx`` size implied by the counts,
    lengths >= 0, pointers equal to the running sum of lengths, document indices
    ``0..N`` non-decreasing, ``.bin`` size equal to the total tokens; with
    ``checksums`` ({"bin": sha256, "idx": sha256}) also the file contents.
    """
    prefix = shard_prefix(prefix)
    if not os.path.exists(prefix + ".bin"):
        raise ShardError(f"{prefix}.bin: missing")
    shard = Shard(prefix)
    idx_path = prefix + ".idx"
    lengths = shard.lengths.astype(np.int64)
    if (lengths < 0).any():
        raise ShardError(f"{idx_path}: negative sequence length at {int(np.argmax(lengths < 0))}")
    expected = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1] * shard.dtype.itemsize, out=expected[1:])
    bad = np.flatnonzero(shard.pointers != expected)
    if bad.size:
        i = int(bad[0])
        raise ShardError(f"{idx_path}: pointer {i} is {int(shard.pointers[i])}, lengths imply {int(expected[i])}")
    docs = shard.document_indices
    if docs.size == 0 or docs[0] != 0 or docs[-1] != len(lengths) or (np.diff(docs) < 0).any():
        raise ShardError(f"{idx_path}: document indices do not run from 0 to {len(lengths)} in order")
    _check_size(prefix + ".bin", os.path.getsize(prefix + ".bin"), int(lengths.sum()) * shard.dtype.itemsize)
    for ext, want in (checksums or {}).items():
        got = file_sha256(f"{prefix}.{ext}")
        if got != want:
            raise ShardError(f"{prefix}.{ext}: checksum mismatch (sha256 {got[:16]}..., manifest {want[:16]}...)")
    return shard


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def shard_checksums(prefix: str) -> dict:
    return {ext: file_sha256(f"{prefix}.{ext}") for ext in ("bin", "idx")}
