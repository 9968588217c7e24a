"""Seed-URL reader for the crawl stage: one URL per line (lines starting with ``#`` are comments).

Each URL becomes a row with ``url`` and empty ``text``; the crawl stage fills
in the fetched body. Lines are not validated here: the crawler rejects bad
URLs with a named reason, so every seed is accounted for.
"""

from __future__ import annotations

from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.compression import UNREADABLE, iter_lines, unreadable


def read_urls(path: str, options: dict):
    try:
        for raw in iter_lines(path, storage_options=options.get("storage_options")):
            line = raw.decode("utf-8", errors="replace").strip()
            if line and not line.startswith("#"):
                yield {"url": line, "text": ""}
    except UNREADABLE as exc:
        yield ReadError(unreadable(path, exc))
