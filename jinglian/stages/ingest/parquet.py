"""Parquet reader, streamed by row group."""

from __future__ import annotations

import os

import pyarrow.parquet as pq

from jinglian.core.filesystem import is_remote, open_seekable
from jinglian.stages.ingest import ReadError


def read_parquet(path: str, options: dict):
    text_field = options.get("text_field", "text")
    try:
        file = pq.ParquetFile(open_seekable(path, options.get("storage_options")) if is_remote(path) else path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not fatal
        yield ReadError(f"{os.path.basename(path)}: not a readable Parquet file: {type(exc).__name__}: {exc}")
        return
    if text_field not in file.schema_arrow.names:
        yield ReadError(f"no column {text_field!r} (columns: {', '.join(file.schema_arrow.names)})")
        return
    for group in range(file.num_row_groups):  # a damaged row group costs itself, not the groups after it
        try:
            for batch in file.iter_batches(batch_size=1024, row_groups=[group]):
                for row in batch.to_pylist():
                    text = row.pop(text_field)
                    if not isinstance(text, str):
                        yield ReadError(f"column {text_field!r} is null or not a string")
                        continue
                    row["text"] = text
                    yield row
        except Exception as exc:  # noqa: BLE001
            rows = file.metadata.row_group(group).num_rows
            yield ReadError(f"{os.path.basename(path)}: row group {group} ({rows} rows, the rest of the group not read) "
                            f"unreadable: {type(exc).__name__}: {' '.join(str(exc).split())}")

read_parquet.options = {"text_field": str, "id_field": str}
