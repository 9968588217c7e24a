"""``tokenize``: curated documents -> token ids + EOD -> Megatron shards + manifest + blend.

A streaming stage: each worker loads the SentencePiece model once (``setup``) and
tokenizes the documents of the partition it is running as they pass through, in the
same pass as the stages before it (no barrier, so no second read of the rows).
Encoding is batched with SentencePiece's own threads, as many as the worker has CPUs (a
Ray actor its one CPU; a run in this process every CPU: it is the only worker), Arrow's
UTF-8 bytes in, int32 buffers out (no ``str`` decoded per document, no Python ``int`` per
token), and each batch's documents reach a shard in one write per stream. The ids
stream into shard pairs ``tokens/<source>/<split>/part-NNNNN[-k].{bin,idx}``, a new
one each time ``shard_tokens`` is reached; each document goes to ``valid`` or
``train`` by a hash of its id, so the split is the same on every run. Each row gets
its ``num_tokens``. When the partition's outputs are committed (``partition_done``)
its last shards are closed and a record of them is written; a partition redone after
a crash first removes what the failed attempt left. Once every partition is in,
``after_run`` (on the driver) writes the manifest and blend files from the records.

Why SentencePiece and not HF ``tokenizers`` as the encoder: on the benchmark texts
SentencePiece's BPE costs less CPU per token, and a ``tokenizers`` BPE built from the
same model does not reproduce its ids where pieces share a score (SentencePiece
merges the leftmost of equal-score pairs, ``tokenizers`` the lower-ranked merge);
``benchmarks/tokenization.py`` measures both.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jinglian.core import documents as D
from jinglian.core.atomic import write_json_atomic
from jinglian.core.stage import Stage
from jinglian.stages.token_shards import indexed, manifest

NUM_TOKENS = "num_tokens"
TOKENIZER_FROM_OUTPUT = "output"


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
    batch_size: int = 64  # documents per SentencePiece encode call and thread
    # SentencePiece encoding threads per worker; 0: the CPUs the worker has (a Ray actor: the CPUs
    # Ray gave it, one by default; a run in this process: every CPU of the process)
    num_threads: int = 0


@dataclass(frozen=True)
class ShardPlan:
    """What writing a partition's shards needs (identical for every partition)."""

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


class TokenizeStage(Stage):
    name = "tokenize"
    Params = TokenizeParams

    @classmethod
    def busies_every_cpu(cls, params) -> bool:
        return params.num_threads == 0 or params.num_threads >= worker_cpus()  # 0: every CPU (setup)

    def tokenizer_path(self) -> str:
        if self.params.tokenizer == TOKENIZER_FROM_OUTPUT:
            return os.path.abspath(os.path.join(self.context.output_dir, "tokenizer", "tokenizer.model"))
        return os.path.abspath(self.context.resolve(self.params.tokenizer))

    def tokens_dir(self) -> str:
        return os.path.join(self.context.output_dir, "tokens")

    def records_dir(self) -> str:
        return os.path.join(self.context.work_dir, "parts")

    def check(self) -> None:
        p = self.params
        if p.shard_tokens < 1 or not 0.0 <= p.valid_ratio < 1.0 or p.batch_size < 1 or p.num_threads < 0:
            raise ValueError("tokenize: shard_tokens and batch_size must be >= 1, num_threads >= 0 "
                             "and valid_ratio in [0, 1)")
        if any(w < 0 for w in p.weights.values()):
            raise ValueError(f"tokenize: weights must be >= 0, got {p.weights}")
        # "output": a tokenizer this job trains earlier (train_tokenizer) is not there yet
        if p.tokenizer != TOKENIZER_FROM_OUTPUT and not os.path.isfile(self.tokenizer_path()):
            raise FileNotFoundError(f"tokenize: tokenizer model not found: {self.tokenizer_path()}")

    def plan(self) -> ShardPlan:
        self.check()
        p = self.params
        path = self.tokenizer_path()
        if not os.path.exists(path):
            raise FileNotFoundError(f"tokenize: tokenizer model not found: {path}")
        sha, sp = load_tokenizer(path)
        eod = sp.eos_id() if p.append_eod else -1
        if p.append_eod and eod < 0:
            raise ValueError(f"tokenize: {path} has no eos piece to use as EOD; set append_eod: false")
        return ShardPlan(
            tokenizer_path=path,
            tokenizer_sha256=sha,
            tokens_dir=self.tokens_dir(),
            records_dir=self.records_dir(),
            dtype=indexed.dtype_for_vocab(sp.get_piece_size()).name,
            eod_id=eod,
            shard_tokens=p.shard_tokens,
            valid_ratio=p.valid_ratio,
            batch_size=p.batch_size,
            num_threads=p.num_threads or worker_cpus(),
        )

    def setup(self) -> None:
        self._plan = self.plan()
        self._part: _PartitionShards | None = None

    def process(self, batch: pa.Table) -> pa.Table:
        part = _partition_of(batch)
        if self._part is None or self._part.index != part:
            if self._part is not None:
                self._part.abort()  # a partition left unfinished (its task failed): it will be redone
            self._part = _PartitionShards(part, self._plan)
        counts = self._part.add(batch)
        self.count("docs", n=len(batch))
        self.count("tokens", n=int(counts.sum()))
        return D.set_column(batch, NUM_TOKENS, pa.array(counts, pa.int64()))

    def partition_done(self, part: int) -> None:
        shards = self._part if self._part is not None and self._part.index == part else _PartitionShards(part, self._plan)
        self._part = None
        record = {"settings": self._plan.settings(), "shards": shards.close()}
        write_json_atomic(os.path.join(self._plan.records_dir, f"part-{part:05d}.json"), record)

    def counters(self) -> dict:
        return {"docs": 0, "tokens": 0}

    def after_run(self) -> dict:
        """Manifest and blend files from every partition's record; shards no record names are removed."""
        plan = self.plan()
        records = {}
        for path in glob.glob(os.path.join(plan.records_dir, "part-*.json")):
            record = _read_json(path)
            if record.get("settings") != plan.settings():
                raise ValueError(f"tokenize: {path} was written with other settings; rerun with --overwrite")
            records[int(os.path.basename(path)[len("part-") : -len(".json")])] = record
        shards = [s for _, r in sorted(records.items()) for s in r["shards"]]
        named = {os.path.join(plan.tokens_dir, s["prefix"]) + ext for s in shards for ext in (".bin", ".idx")}
        for path in glob.glob(os.path.join(plan.tokens_dir, "*", "*", "part-*")):
            if path not in named:  # left by an attempt that crashed before its partition was committed
                os.remove(path)
        _, sp = load_tokenizer(plan.tokenizer_path)
        p = self.params
        info = {
            "path": plan.tokenizer_path,
            "sha256": plan.tokenizer_sha256,
            "vocab_size": sp.get_piece_size(),
            "eod_id": plan.eod_id,
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
            "sources": {name: {s: src[s]["tokens"] for s in manifest.SPLITS} for name, src in m["sources"].items()},
        }


def _partition_of(batch: pa.Table) -> int:
    """The partition a batch belongs to (every batch comes from one): its row keys carry it."""
    if D.PART in batch.column_names and len(batch) and batch[D.PART][0].is_valid:
        return int(batch[D.PART][0].as_py())
    return int(batch[D.ROW][0].as_py()) >> 32 if len(batch) else -1


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


def worker_cpus() -> int:
    """The CPUs this process may encode on: a Ray worker's as Ray assigned them (its actors'
    siblings use the others); otherwise every CPU the process may run on (the run is this process)."""
    ray = sys.modules.get("ray")  # never import Ray just to ask
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        if getattr(context.worker, "mode", None) == ray.WORKER_MODE:
            return max(1, int(context.get_assigned_resources().get("CPU", 1)))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def _encode(sp, texts: list[bytes], batch_size: int, threads: int) -> list[np.ndarray]:
    """Each text's ids (int32 arrays), ``batch_size`` texts per thread in each SentencePiece call
    (its threads share a call's texts; the ids do not depend on how many there are)."""
    size = batch_size * threads
    encoded: list[np.ndarray] = []
    for start in range(0, len(texts), size):
        encoded += sp.encode(texts[start : start + size], out_type="numpy", num_threads=threads)
    return encoded


def _utf8(text: pa.ChunkedArray) -> list[bytes]:
    """Each text as UTF-8 bytes (null -> empty): a copy of Arrow's bytes, which SentencePiece
    encodes exactly as it encodes the ``str`` (it works on UTF-8), without decoding them first."""
    return pc.fill_null(text.cast(pa.large_binary()), b"").to_pylist()


class _PartitionShards:
    """The shards of one partition, written as its batches pass: one stream per (source, split)."""

    def __init__(self, index: int, plan: ShardPlan):
        self.index, self.plan = index, plan
        self.dtype = np.dtype(plan.dtype)
        self.eod = np.array([plan.eod_id], self.dtype) if plan.eod_id >= 0 else None
        self.writers: dict[tuple[str, str], _StreamWriter] = {}
        self.dirs: dict = {}
        self.broken: BaseException | None = None
        # what an earlier attempt at this partition left (it crashed before its record was written)
        for stale in glob.glob(os.path.join(plan.tokens_dir, "*", "*", f"part-{index:05d}[.-]*")):
            os.remove(stale)

    def add(self, table: pa.Table) -> np.ndarray:
        """Encode and write the documents; returns their token counts (EOD included).

        Everything that can fail on a document (its encoding) happens before anything is
        written, so a batch that raises leaves the shards as they were and the executor can
        retry its rows one by one. A failed write breaks the partition: its task must fail.
        """
        if self.broken is not None:
            raise RuntimeError(f"tokenize: partition {self.index}: shards not written: {self.broken}")
        _, sp = load_tokenizer(self.plan.tokenizer_path)
        texts = _utf8(table[D.TEXT])
        ids = [str(i) for i in table[D.ID].to_pylist()]
        sources = table[D.SOURCE].to_pylist() if D.SOURCE in table.column_names else [None] * len(table)
        for s in set(sources) - self.dirs.keys():
            self.dirs[s] = source_dir(s)
        streams = [(self.dirs[s], "valid" if is_valid(i, self.plan.valid_ratio) else "train") for i, s in zip(ids, sources)]
        encoded = _encode(sp, texts, self.plan.batch_size, self.plan.num_threads)
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded)) + (self.eod is not None)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, stream in enumerate(streams):
            groups.setdefault(stream, []).append(i)
        try:
            for stream, members in groups.items():  # one write per stream and batch
                if stream not in self.writers:
                    self.writers[stream] = _StreamWriter(self.plan, self.index, *stream)
                self.writers[stream].add(_join([encoded[i] for i in members], self.eod, self.dtype), lengths[members])
        except BaseException as exc:
            self.broken = exc
            self.abort()
            raise
        return lengths

    def close(self) -> list[dict]:
        if self.broken is not None:
            raise RuntimeError(f"tokenize: partition {self.index}: shards not written: {self.broken}")
        try:
            return [s for w in self.writers.values() for s in w.close()]
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()
        self.writers = {}


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


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
