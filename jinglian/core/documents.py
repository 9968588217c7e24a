"""The document record that flows between stages, and how a verdict is written on it.

Every row is one input document. It is never dropped: a stage that removes a
document writes a ``reason`` (``"<stage>:<rule>"``) and the measured value, or an
``error``; the run writes kept rows to ``docs/``, rejected ones to ``rejected/``
and failed ones to ``errors/``. Columns starting with ``_`` are internal and are
not written to the final output.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Core columns every row has.
ID = "id"
TEXT = "text"
SOURCE = "source"
INPUT_FILE = "input_file"
RECORD = "record"  # record number inside input_file
REASON = "reason"  # why the document was removed: "<stage>:<rule>"
REASON_VALUE = "reason_value"  # the measured value that failed the rule
DUPLICATE_OF = "duplicate_of"  # id of the kept document a duplicate resembles
ERROR = "error"  # why the document failed: "<stage>: <ExceptionType>: message"
METADATA = "metadata"  # JSON object with the input record's other fields
PART = "_part"  # partition number (internal)
ROW = "_row"  # unique row key: partition << 32 | row number in the partition (internal)

VERDICT_COLUMNS = {
    REASON: pa.string(),
    REASON_VALUE: pa.float64(),
    DUPLICATE_OF: pa.string(),
    ERROR: pa.string(),
}


def stable_id(input_file: str, record: int) -> str:
    """A deterministic id for a record that brought none of its own."""
    return hashlib.blake2b(f"{input_file}\x00{record}".encode(), digest_size=10).hexdigest()


def row_key(part: int, row: int) -> int:
    return (part << 32) | row


def with_verdict_columns(table: pa.Table) -> pa.Table:
    """Add the verdict columns (all null) where they are missing."""
    for name, typ in VERDICT_COLUMNS.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), typ))
    return table


def active_mask(table: pa.Table) -> np.ndarray:
    """True for rows still in play: neither rejected nor failed."""
    reason = pc.is_null(table[REASON])
    error = pc.is_null(table[ERROR])
    return np.asarray(pc.and_(reason, error).to_numpy(zero_copy_only=False), dtype=bool)


def reject(table: pa.Table, mask, reason, value=None, duplicate_of=None) -> pa.Table:
    """Mark rows where ``mask`` is true as rejected.

    ``reason`` and ``value`` may be scalars or per-row sequences (only the masked
    entries are used). Rows that already carry a verdict keep their first one.
    """
    mask = np.asarray(mask, dtype=bool) & active_mask(table)
    if not mask.any():
        return table
    n = len(table)
    updates = {REASON: reason, REASON_VALUE: value, DUPLICATE_OF: duplicate_of}
    for name, new in updates.items():
        if new is None:
            continue
        typ = VERDICT_COLUMNS[name]
        new_col = pa.array(new if _is_sequence(new) else [new] * n, typ)
        merged = pc.if_else(pa.array(mask), new_col, table[name])
        table = table.set_column(table.schema.get_field_index(name), name, merged)
    return table


def set_column(table: pa.Table, name: str, column) -> pa.Table:
    """``table`` with column ``name`` replaced by ``column``, or appended when it has none."""
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, column)
    return table.append_column(name, column)


def fail(table: pa.Table, mask, message) -> pa.Table:
    """Mark rows where ``mask`` is true as failed with an error message."""
    mask = np.asarray(mask, dtype=bool) & active_mask(table)
    if not mask.any():
        return table
    n = len(table)
    new_col = pa.array(message if _is_sequence(message) else [message] * n, pa.string())
    merged = pc.if_else(pa.array(mask), new_col, table[ERROR])
    return table.set_column(table.schema.get_field_index(ERROR), ERROR, merged)


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray))


def active(table: pa.Table) -> pa.Table:
    """Only the rows still in play (the verdict columns are added if missing)."""
    table = with_verdict_columns(table)
    return table.filter(pa.array(active_mask(table)))
