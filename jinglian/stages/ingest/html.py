"""HTML files reader: a directory, a glob or one file of ``.html``/``.htm`` (optionally ``.gz``).

Each file is one document whose raw bytes go to ``content`` for the extract
stage; its file name is its provenance (``file_name``; ``url`` when the job
gives ``base_url``).
"""

from __future__ import annotations

import glob
import os

from jinglian.core.filesystem import expand, is_remote
from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.compression import read_capped

SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz", ".xhtml")


def html_files(path: str, storage_options: dict | None = None) -> list[str]:
    if is_remote(path):  # a remote glob or directory (not descended into), or one file
        found = expand(path, storage_options)
        return found if found == [path] else sorted(f for f in found if f.lower().endswith(SUFFIXES))
    if os.path.isdir(path):
        found = [os.path.join(root, f) for root, _, files in os.walk(path) for f in files]
    elif glob.has_magic(path):
        found = glob.glob(path, recursive=True)
    else:
        return [path]
    return sorted(f for f in found if f.lower().endswith(SUFFIXES))


def read_html(path: str, options: dict):
    """options: ``max_bytes`` per file (default 16 MiB), ``base_url`` (url = base_url + file name)."""
    max_bytes = int(options.get("max_bytes", 16 << 20))
    base_url = options.get("base_url")
    storage_options = options.get("storage_options")
    for file in html_files(path, storage_options):
        name = os.fsencode(os.path.basename(file)).decode("utf-8", "backslashreplace")  # undecodable bytes shown, not fatal
        data, why = read_capped(file, max_bytes, storage_options)
        if why:
            yield ReadError(why)  # names the file
            continue
        doc = {"content": data, "file_name": name, "content_type": "text/html"}
        if base_url:
            doc["url"] = base_url.rstrip("/") + "/" + name.removesuffix(".gz")
        yield doc


read_html.options = {"max_bytes": int, "base_url": str}
