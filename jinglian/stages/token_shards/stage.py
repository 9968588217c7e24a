"""``tokenize``: curated documents -> token ids + EOD -> Megatron shards + manifest + blend.

A barrier stage. ``prepare`` runs one task per partition (in parallel with
:class:`~jinglian.pipeline.ray_ops.RayOps`): the task loads the SentencePiece
model once per worker, encodes the partition's documents in batches (with
SentencePiece's own threads; Arrow's UTF-8 bytes in, int32 buffers out: no
``str`` decoded per document, no Python ``int`` per token), and streams them into shard pairs
``tokens/<source>/<split>/part-NNNNN[-k].{bin,idx}``, a new one each time
``shard_tokens`` is reached. Each document goes to ``valid`` or ``train`` by a
hash of its id, so the split is the same on every run. A partition whose
record says its shards were written from the same documents with the same
settings, and whose shards still verify, is not tokenized again (resume).
``prepare`` then writes the manifest and blend files; ``process`` adds each
document's ``num_tokens`` column.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jinglian.core import documents as D
from jinglian.core.atomic import atomic_path, write_json_atomic
from jinglian.core.stage import BarrierStage
from jinglian.stages.token_shards import indexed, manifest

NUM_TOKENS = "num_tokens"
TOKENIZER_FROM_OUTPUT = "output"
RESUMED_KEY = "jinglian.tokenize.resumed"  # map-output metadata: 1 if the partition's shards were reused


@dataclass
class TokenizeParams:
    # SentencePiece model; "output" = <output>/tokenizer/tokenizer.model trained earlier in this job.
    tokenizer: str = TOKENIZER_FROM_OUTPUT
    append_eod: bool = True  # end every document with the model's eos id (the EOD token)
    shard_tokens: int = 100_000_000  # a shard is closed after the document that reaches this many tokens
    valid_ratio: float = 0.01  # share of documents (by a hash of their id) written to the valid split
    # source -> blend weight (a data mixture); empty: proportional to each source's tokens.
    # Sources are named as their shard directories: other characters become "_", no source is "default".
    weights: dict[str, float] = field(default_factory=dict)
    batch_size: int = 64  # documents per SentencePiece encode call
    num_threads: int = 1  # SentencePiece encoding threads per worker (one worker per CPU already)


@dataclass(frozen=True)
class ShardPlan:
    """What a partition task needs (picklable; identical for every partition)."""

    tokenizer_path: str
    tokenizer_sha256: str
    tokens_dir: str
    records_dir: str
    dtype: str
    eod_id: int  # -1: no EOD appended
    shard_tokens: int
    valid_ratio: float
    batch_size: int
    num_threads: int

    def settings(self) -> dict:
        """The settings that decide the shard bytes (paths and speed knobs excluded)."""
        keep = ("tokenizer_sha256", "dtype", "eod_id", "shard_tokens", "valid_ratio")
        return {k: v for k, v in asdict(self).items() if k in keep}


class TokenizeStage(BarrierStage):
    name = "tokenize"
    Params = TokenizeParams

    def tokenizer_path(self) -> str:
        if self.params.tokenizer == TOKENIZER_FROM_OUTPUT:
            return os.path.abspath(os.path.join(self.context.output_dir, "tokenizer", "tokenizer.model"))
        return os.path.abspath(self.context.resolve(self.params.tokenizer))

    def tokens_dir(self) -> str:
        return os.path.join(self.context.output_dir, "tokens")

    def check(self) -> None:
        # "output": a tokenizer this job trains earlier (train_tokenizer) is not there yet
        if self.params.tokenizer != TOKENIZER_FROM_OUTPUT and not os.path.isfile(self.tokenizer_path()):
            raise FileNotFoundError(f"tokenize: tokenizer model not found: {self.tokenizer_path()}")

    def prepare(self, rows, ops) -> dict:
        p = self.params
        if p.shard_tokens < 1 or not 0.0 <= p.valid_ratio < 1.0 or p.batch_size < 1:
            raise ValueError("tokenize: shard_tokens and batch_size must be >= 1 and valid_ratio in [0, 1)")
        if any(w < 0 for w in p.weights.values()):
            raise ValueError(f"tokenize: weights must be >= 0, got {p.weights}")
        path = self.tokenizer_path()
        if not os.path.exists(path):
            raise FileNotFoundError(f"tokenize: tokenizer model not found: {path}")
        sha, sp = load_tokenizer(path)
        eod = sp.eos_id() if p.append_eod else -1
        if p.append_eod and eod < 0:
            raise ValueError(f"tokenize: {path} has no eos piece to use as EOD; set append_eod: false")
        plan = ShardPlan(
            tokenizer_path=path,
            tokenizer_sha256=sha,
            tokens_dir=self.tokens_dir(),
            records_dir=os.path.join(self.context.work_dir, "parts"),
            dtype=indexed.dtype_for_vocab(sp.get_piece_size()).name,
            eod_id=eod,
            shard_tokens=p.shard_tokens,
            valid_ratio=p.valid_ratio,
            batch_size=p.batch_size,
            num_threads=p.num_threads,
        )
        counts = ops.map(rows, partial(tokenize_partition, plan=plan), name="tokenize")
        self._save_counts(counts)
        records = [_read_json(os.path.join(plan.records_dir, f"part-{i:05d}.json")) for i in range(len(rows))]
        shards = [s for r in records for s in r["shards"]]
        info = {
            "path": path,
            "sha256": sha,
            "vocab_size": sp.get_piece_size(),
            "eod_id": eod,
            "append_eod": p.append_eod,
            "dtype": plan.dtype,
        }
        weights = {source_dir(k): v for k, v in p.weights.items()}
        m = manifest.build_manifest(shards, info, weights, p.valid_ratio, p.shard_tokens)
        manifest.write_manifest(plan.tokens_dir, m)
        return {
            "docs": sum(t["docs"] for t in m["totals"].values()),
            "tokens": sum(t["tokens"] for t in m["totals"].values()),
            "shards": len(shards),
            "partitions_resumed": sum(_was_resumed(path) for path in counts.paths),
            "sources": {name: {s: src[s]["tokens"] for s in manifest.SPLITS} for name, src in m["sources"].items()},
        }

    def _save_counts(self, counts) -> None:
        """Row key -> token count, sorted, as .npy (memory-mapped by every ``process`` worker)."""
        table = counts.read_all([D.ROW, NUM_TOKENS])
        rows = np.asarray(table[D.ROW].to_numpy(), np.int64) if len(table) else np.zeros(0, np.int64)
        ntok = np.asarray(table[NUM_TOKENS].to_numpy(), np.int64) if len(table) else np.zeros(0, np.int64)
        order = np.argsort(rows, kind="stable")
        for name, arr in (("rows", rows[order]), (NUM_TOKENS, ntok[order])):
            path = os.path.join(self.context.work_dir, f"{name}.npy")
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, arr)

    def setup(self) -> None:
        self._rows = self._counts = None

    def process(self, batch: pa.Table) -> pa.Table:
        if self._rows is None:
            self._rows = np.load(os.path.join(self.context.work_dir, "rows.npy"), mmap_mode="r")
            self._counts = np.load(os.path.join(self.context.work_dir, f"{NUM_TOKENS}.npy"), mmap_mode="r")
        keys = np.asarray(batch[D.ROW].to_numpy(), np.int64)
        n = len(self._rows)
        pos = np.minimum(np.searchsorted(self._rows, keys), max(n - 1, 0))
        found = self._rows[pos] == keys if n else np.zeros(len(keys), bool)
        values = np.asarray(self._counts[pos]) if n else np.zeros(len(keys), np.int64)
        batch = batch.append_column(NUM_TOKENS, pa.array(values, pa.int64(), mask=~found))
        return D.fail(batch, ~found, "tokenize: document did not reach the tokenize barrier, so it is in no shard")


_TOKENIZERS: dict[str, tuple] = {}  # path -> (sha256, model): one load per worker process


def load_tokenizer(path: str):
    """(sha256 of the model file, SentencePieceProcessor), loaded once per process."""
    if path not in _TOKENIZERS:
        import sentencepiece as spm

        _TOKENIZERS[path] = (indexed.file_sha256(path), spm.SentencePieceProcessor(model_file=path))
    return _TOKENIZERS[path]


def source_dir(source) -> str:
    """A directory name for a source ("" or None -> "default"); letters of any script are kept ("书籍")."""
    name = re.sub(r"[^\w.-]+", "_", source or "").strip("._")
    return name or "default"


def is_valid(doc_id: str, ratio: float) -> bool:
    """Deterministic split: the first 8 bytes of blake2b(id) as a fraction of 2**64."""
    if ratio <= 0:
        return False
    h = int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "little")
    return h / 2**64 < ratio


def shard_name(part: int, k: int) -> str:
    return f"part-{part:05d}" if k == 0 else f"part-{part:05d}-{k}"


def tokenize_partition(table: pa.Table, index: int, plan: ShardPlan) -> pa.Table:
    """Tokenize one partition into its shards; returns (_row, num_tokens) per active document."""
    table = D.active(table)
    ids = [str(i) for i in table[D.ID].to_pylist()]
    sources = table[D.SOURCE].to_pylist() if D.SOURCE in table.column_names else [None] * len(table)
    dirs = {s: source_dir(s) for s in set(sources)}
    streams = [(dirs[s], "valid" if is_valid(i, plan.valid_ratio) else "train") for i, s in zip(ids, sources)]
    fingerprint = _fingerprint(plan, table[D.TEXT], ids, streams)
    record_path = os.path.join(plan.records_dir, f"part-{index:05d}.json")
    counts = _resume(record_path, fingerprint, plan, streams)
    resumed = counts is not None
    if not resumed:
        counts, shards = _write_partition(index, plan, _utf8(table[D.TEXT]), streams)
        write_json_atomic(record_path, {"fingerprint": fingerprint, "shards": shards})
    out = pa.table({D.ROW: table[D.ROW], NUM_TOKENS: pa.array(np.asarray(counts, np.int64))})
    return out.replace_schema_metadata({RESUMED_KEY: str(int(resumed))})


def _utf8(text: pa.ChunkedArray) -> list[bytes]:
    """Each text as UTF-8 bytes (null -> empty): a copy of Arrow's bytes, which SentencePiece
    encodes exactly as it encodes the ``str`` (it works on UTF-8), without decoding them first."""
    return pc.fill_null(text.cast(pa.large_binary()), b"").to_pylist()


def _fingerprint(plan: ShardPlan, text: pa.ChunkedArray, ids, streams) -> str:
    """What decides this partition's shards: settings, documents and their streams, every text byte.

    The text is hashed straight from its Arrow buffers (sha256 is hardware-accelerated on
    most CPUs), skipping a UTF-8 encode of every string.
    """
    h = hashlib.sha256(json.dumps([plan.settings(), ids, streams], sort_keys=True).encode())
    for chunk in text.chunks:
        for buf in chunk.buffers():
            if buf is not None:
                h.update(memoryview(buf))
    return h.hexdigest()


def _resume(record_path: str, fingerprint: str, plan: ShardPlan, streams) -> list[int] | None:
    """Token counts recovered from committed shards, or None if the partition must be redone."""
    if not os.path.exists(record_path):
        return None
    record = _read_json(record_path)
    if record.get("fingerprint") != fingerprint:
        return None
    lengths: dict[tuple[str, str], list[np.ndarray]] = {}
    try:
        for s in record["shards"]:
            prefix = os.path.join(plan.tokens_dir, s["prefix"])
            shard = indexed.verify(prefix, s["checksums"])
            lengths.setdefault((s["source"], s["split"]), []).append(shard.lengths.astype(np.int64))
    except indexed.ShardError:
        return None
    queues = {k: iter(np.concatenate(v).tolist()) for k, v in lengths.items()}
    try:
        return [next(queues[s]) for s in streams]
    except (KeyError, StopIteration):
        return None


def _write_partition(index: int, plan: ShardPlan, texts: list[bytes], streams) -> tuple[np.ndarray, list[dict]]:
    """Encode and write; returns each document's token count (EOD included) and the shard records."""
    for stale in glob.glob(os.path.join(plan.tokens_dir, "*", "*", f"part-{index:05d}[.-]*")):
        os.remove(stale)
    _, sp = load_tokenizer(plan.tokenizer_path)
    dtype = np.dtype(plan.dtype)
    eod = np.array([plan.eod_id], dtype) if plan.eod_id >= 0 else None
    writers: dict[tuple[str, str], _StreamWriter] = {}
    counts: list[np.ndarray] = []
    try:
        for start in range(0, len(texts), plan.batch_size):
            batch = sp.encode(texts[start : start + plan.batch_size], out_type="numpy", num_threads=plan.num_threads)
            lengths = np.fromiter(map(len, batch), np.int64, len(batch)) + (eod is not None)
            counts.append(lengths)
            groups: dict[tuple[str, str], list[int]] = {}
            for i, stream in enumerate(streams[start : start + plan.batch_size]):
                groups.setdefault(stream, []).append(i)
            for stream, members in groups.items():
                if stream not in writers:
                    writers[stream] = _StreamWriter(plan, index, *stream)
                writers[stream].add(_join([batch[i] for i in members], eod, dtype), lengths[members])
        shards = [s for w in writers.values() for s in w.close()]
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    return (np.concatenate(counts) if counts else np.zeros(0, np.int64)), shards


def _join(docs: list[np.ndarray], eod: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    """The documents' ids back to back in the shard dtype, each followed by the EOD (if any).

    The int32 ids fit ``dtype`` (it is chosen from the vocabulary size), so the cast loses nothing.
    """
    parts = docs if eod is None else [a for d in docs for a in (d, eod)]
    return np.concatenate(parts, dtype=dtype, casting="unsafe") if parts else np.zeros(0, dtype)


class _StreamWriter:
    """The shards of one (source, split) within one partition: a new shard every ``shard_tokens``."""

    def __init__(self, plan: ShardPlan, part: int, source: str, split: str):
        self.plan, self.part, self.source, self.split = plan, part, source, split
        self.writer: indexed.ShardWriter | None = None
        self.done: list[dict] = []

    def add(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Documents as their tokens back to back plus their lengths."""
        while len(lengths):
            if self.writer is None:
                rel = os.path.join(self.source, self.split, shard_name(self.part, len(self.done)))
                self.writer = indexed.ShardWriter(os.path.join(self.plan.tokens_dir, rel), np.dtype(self.plan.dtype))
                self.rel = rel
            room = self.plan.shard_tokens - self.writer.tokens
            ends = np.cumsum(lengths)
            # up to and including the doc that reaches `room`
            take = min(int(np.searchsorted(ends, room)) + 1, len(lengths))
            used = int(ends[take - 1])
            self.writer.add(tokens[:used], lengths[:take])
            tokens, lengths = tokens[used:], lengths[take:]
            if self.writer.tokens >= self.plan.shard_tokens:
                self._commit()

    def _commit(self) -> None:
        w = self.writer
        w.commit()
        self.done.append(
            {
                "prefix": self.rel,
                "source": self.source,
                "split": self.split,
                "docs": w.docs,
                "tokens": w.tokens,
                "dtype": self.plan.dtype,
                "checksums": w.checksums,
            }
        )
        self.writer = None

    def close(self) -> list[dict]:
        if self.writer is not None:
            self._commit()
        return self.done

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _was_resumed(parquet_path: str) -> bool:
    meta = pq.read_schema(parquet_path).metadata or {}
    return meta.get(RESUMED_KEY.encode()) == b"1"


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
