"""JSON Lines reader (plain, .gz, .zst): one JSON object per line."""

from __future__ import annotations

import json

from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.compression import UNREADABLE, LineTooLong, iter_lines, unreadable


def read_jsonl(path: str, options: dict):
    text_field = options.get("text_field", "text")
    lines = iter_lines(path, max_line_bytes=options.get("max_line_bytes", 64 << 20),
                       storage_options=options.get("storage_options"))
    number = 0
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except UNREADABLE as exc:  # truncated, corrupt or mislabelled compression: the rest is unreadable
            yield ReadError(unreadable(path, exc, f" after line {number}"))
            return
        number += 1
        if isinstance(line, LineTooLong):
            yield ReadError(f"line {number}: {line.size} bytes, longer than max_line_bytes")
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield ReadError(f"line {number}: not JSON: {exc}")
            continue
        except RecursionError:  # the C parser recurses per level; 100,000 nested brackets exhaust the stack
            yield ReadError(f"line {number}: JSON nested too deeply to parse ({len(line)} bytes)")
            continue
        if not isinstance(obj, dict):
            yield ReadError(f"line {number}: expected a JSON object, got {type(obj).__name__}")
            continue
        text = obj.pop(text_field, None)
        if not isinstance(text, str):
            yield ReadError(f"line {number}: field {text_field!r} missing or not a string")
            continue
        obj["text"] = text
        yield obj


read_jsonl.options = {"text_field": str, "id_field": str, "max_line_bytes": int}
