"""Plain-text reader: the whole file is one document (UTF-8; .gz/.zst allowed)."""

from __future__ import annotations

from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.compression import read_capped


def read_text(path: str, options: dict):
    max_bytes = int(options.get("max_bytes", 64 << 20))
    data, why = read_capped(path, max_bytes, options.get("storage_options"))
    if why:
        yield ReadError(why)
        return
    try:
        text = data.decode(options.get("encoding", "utf-8"))
    except UnicodeDecodeError as exc:
        yield ReadError(f"not {options.get('encoding', 'utf-8')}: {exc}")
        return
    yield {"text": text}


read_text.options = {"encoding": str, "max_bytes": int}
