"""Writing one partition's rows: atomic, deterministic, bounded memory.

Rows arrive in batches whose columns may differ (a batch where every row was
rejected early lacks the columns later stages add). Batches are buffered and
spilled to temporary chunk files; at the end the chunks are rewritten into one
Parquet file under the union of their schemas, one chunk in memory at a time,
and renamed into place.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from jinglian.core.atomic import temp_path_for

SPILL_BYTES = 64 << 20


def _normalise(table: pa.Table) -> pa.Table:
    """Columns that are null in every row have no type yet: make them strings."""
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type):
            table = table.set_column(i, f.name, pa.nulls(len(table), pa.string()))
    return table


class PartitionFile:
    def __init__(self, path: str, drop_columns=()):
        self.path = path
        self.drop_columns = set(drop_columns)
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._chunks: list[str] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if len(table) == 0:
            return
        keep = [c for c in table.column_names if c not in self.drop_columns]
        table = _normalise(table.select(keep))
        self._buffer.append(table)
        self._buffered += table.nbytes
        self.rows += len(table)
        if self._buffered >= SPILL_BYTES:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        chunk = temp_path_for(f"{self.path}.chunk{len(self._chunks)}")
        pq.write_table(pa.concat_tables(self._buffer, promote_options="permissive"), chunk)
        self._chunks.append(chunk)
        self._buffer, self._buffered = [], 0

    def commit(self, empty_schema: pa.Schema) -> None:
        """Write the final file (an empty one with ``empty_schema`` if no rows came)."""
        tmp = temp_path_for(self.path)
        if not self._chunks:
            table = pa.concat_tables(self._buffer, promote_options="permissive") if self._buffer else empty_schema.empty_table()
            pq.write_table(table, tmp)
        else:
            self._spill()
            schema = pa.unify_schemas([pq.read_schema(c) for c in self._chunks], promote_options="permissive")
            with pq.ParquetWriter(tmp, schema) as writer:
                for chunk in self._chunks:
                    writer.write_table(_conform(pq.read_table(chunk), schema))
                    os.remove(chunk)
        os.replace(tmp, self.path)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
