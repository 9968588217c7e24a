"""Whole-dataset operations for barrier stages, over Parquet partitions on disk.

A :class:`TableSet` is a list of Parquet files. :class:`DataOps` offers two
operations, enough for deduplication, global statistics and joins:

- ``map(inputs, fn)``: ``fn(table, index) -> table`` on every partition;
- ``shuffle(inputs, key, num_partitions, fn)``: rows are hash-partitioned by a
  column, each bucket's rows from every input are gathered (and only those),
  and ``fn(table, bucket) -> table`` runs on each bucket.

Every intermediate result is written to disk, so memory per worker is bounded
by the size of one partition or bucket (choose ``num_partitions`` from a memory
budget), never by the dataset. With ``batch_bytes`` a map and a shuffle's
scatter read each partition in record batches of about that many bytes (``fn``
of a map must then work row by row) and write as they go, so one partition's
size does not matter either. :class:`LocalOps` runs in-process (tests, tiny
jobs); the engine's Ray implementation (``jinglian.pipeline.ray_ops``) runs each partition and bucket as a Ray task.
``fn`` must be picklable (a module-level function or a ``functools.partial``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jinglian.core.atomic import temp_path_for

TableFn = Callable[[pa.Table, int], pa.Table]


@dataclass
class TableSet:
    paths: list[str]

    def read(self, index: int, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.paths[index], columns=columns)

    def read_all(self, columns: list[str] | None = None) -> pa.Table:
        """Everything in one table: for tests and small results only."""
        tables = [self.read(i, columns) for i in range(len(self.paths))]
        return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})

    def num_rows(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def write_atomic(table: pa.Table, path: str, row_group_size: int | None = None) -> None:
    """Write a Parquet file so that readers see all of it or nothing."""
    tmp = temp_path_for(path)
    pq.write_table(table, tmp, row_group_size=row_group_size)
    os.replace(tmp, path)


def bucket_of(column: pa.ChunkedArray | pa.Array, num_partitions: int) -> np.ndarray:
    """Deterministic bucket per value (stable across processes, unlike ``hash()``)."""
    if pa.types.is_integer(column.type):
        values = np.asarray(column.to_numpy(zero_copy_only=False)).astype(np.uint64)
    else:
        values = np.array([_stable_hash(v) for v in column.to_pylist()], dtype=np.uint64)
    mixed = values * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= mixed >> np.uint64(29)
    return (mixed % np.uint64(num_partitions)).astype(np.int64)


def _stable_hash(value) -> int:
    data = value if isinstance(value, bytes) else str(value).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def read_batches(path: str, batch_bytes: float | None) -> Iterator[pa.Table]:
    """A Parquet file as tables of about ``batch_bytes`` (uncompressed), at least one (maybe empty);
    the whole file at once when ``batch_bytes`` is None."""
    if batch_bytes is None:
        yield pq.read_table(path)
        return
    # column chunks stream through a small buffer instead of being read (pre-buffered) whole; one
    # decoding thread, as a task has one CPU
    file = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    meta = file.metadata
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    rows = max(1, int(batch_bytes * meta.num_rows / max(1, size)))
    empty = True
    for batch in file.iter_batches(batch_size=rows, use_threads=False):
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield file.schema_arrow.empty_table()


def _map_one(path: str, index: int, fn: TableFn, out_path: str, batch_bytes: float | None = None) -> str:
    if batch_bytes is None:
        write_atomic(fn(pq.read_table(path), index), out_path)
        return out_path
    tmp = temp_path_for(out_path)
    writer = None
    try:
        for table in read_batches(path, batch_bytes):
            out = fn(table, index)
            if writer is None:
                writer = pq.ParquetWriter(tmp, out.schema)
            writer.write_table(out if out.schema.equals(writer.schema) else out.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, out_path)
    return out_path


def _scatter_one(path: str, index: int, key: str, num_partitions: int, out_dir: str,
                 batch_bytes: float | None = None) -> None:
    """Every bucket gets ``from-<index>-<chunk>.parquet`` files (at least one, maybe empty): the
    rows of the input in order, flushed whenever about ``batch_bytes`` are buffered."""
    pieces: list[list[pa.Table]] = [[] for _ in range(num_partitions)]
    written = [0] * num_partitions
    buffered = 0
    schema = None

    def flush(final: bool) -> None:
        for b in range(num_partitions):
            if pieces[b] or (final and not written[b]):
                table = pa.concat_tables(pieces[b]) if pieces[b] else schema.empty_table()
                name = f"from-{index:05d}-{written[b]:05d}.parquet"
                write_atomic(table, os.path.join(out_dir, f"bucket-{b:05d}", name))
                written[b] += 1
                pieces[b] = []

    for table in read_batches(path, batch_bytes):
        schema = table.schema
        buckets = bucket_of(table[key], num_partitions) if len(table) else np.zeros(0, np.int64)
        for b in np.unique(buckets).tolist():
            piece = table.filter(pa.array(buckets == b))
            pieces[b].append(piece)
            buffered += piece.nbytes
        if batch_bytes is not None and buffered >= batch_bytes:
            flush(final=False)
            buffered = 0
    flush(final=True)


def _gather_one(bucket_dir: str, bucket: int, fn: TableFn, out_path: str) -> str:
    files = sorted(os.listdir(bucket_dir))
    tables = [pq.read_table(os.path.join(bucket_dir, f)) for f in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    write_atomic(fn(table, bucket), out_path)
    shutil.rmtree(bucket_dir, ignore_errors=True)
    return out_path


class DataOps:
    """Base: the plan of each operation; subclasses decide where the pieces run."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self._counter = 0

    def _new_dir(self, name: str) -> str:
        self._counter += 1
        path = os.path.join(self.work_dir, f"{self._counter:03d}-{name}")
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def map(self, inputs: TableSet, fn: TableFn, name: str = "map", batch_bytes: float | None = None) -> TableSet:
        out_dir = self._new_dir(name)
        calls = [
            (_map_one, (p, i, fn, os.path.join(out_dir, f"part-{i:05d}.parquet"), batch_bytes))
            for i, p in enumerate(inputs.paths)
        ]
        return TableSet(self._run_all(calls))

    def shuffle(self, inputs: TableSet, key: str, num_partitions: int, fn: TableFn, name: str = "shuffle",
                batch_bytes: float | None = None) -> TableSet:
        out_dir = self._new_dir(name)
        scatter_dir = os.path.join(out_dir, "scatter")
        self._run_all([(_scatter_one, (p, i, key, num_partitions, scatter_dir, batch_bytes))
                       for i, p in enumerate(inputs.paths)])
        calls = []
        for b in range(num_partitions):
            bucket_dir = os.path.join(scatter_dir, f"bucket-{b:05d}")
            calls.append((_gather_one, (bucket_dir, b, fn, os.path.join(out_dir, f"part-{b:05d}.parquet"))))
        result = TableSet(self._run_all(calls))
        shutil.rmtree(scatter_dir, ignore_errors=True)
        return result

    def _run_all(self, calls: list) -> list:
        raise NotImplementedError


class LocalOps(DataOps):
    def _run_all(self, calls: list) -> list:
        return [fn(*args) for fn, args in calls]
