"""Which files a job's input entry names: a path or glob (local or remote), or a Common Crawl paths list.

A paths list (``warc.paths.gz``, ``wet.paths.gz`` of a crawl) has one path per line, relative to the
crawl's host or bucket; ``prefix`` (``https://data.commoncrawl.org/`` or ``s3://commoncrawl/``) is put
before each, and ``skip``/``limit`` take a slice of it, so a job names a crawl and a slice, not
thousands of files. Listed files are not checked one by one here: a missing one is its own failed entry
when the run reads it, and the other files run on.
"""

from __future__ import annotations

from jinglian.core.filesystem import check_storage_options, expand, is_remote
from jinglian.stages.ingest.compression import UNREADABLE, LineTooLong, iter_lines

MAX_LIST_LINE = 4096  # a longer "path" means the file is not a paths list


class SourceError(ValueError):
    """An input entry whose files cannot be listed; the message names the path."""


def input_files(spec) -> list[str]:
    """The files of an input entry (a ``jinglian.pipeline.job.InputSpec``), in a stable order."""
    options = spec.options.get("storage_options") or {}
    check_storage_options(options)
    if spec.paths_list:
        return read_paths_list(spec.paths_list, spec.prefix, spec.skip, spec.limit, options)
    try:
        return expand(spec.path, options)
    except Exception as exc:  # noqa: BLE001 - each backend raises its own errors (no credentials, no bucket)
        if not is_remote(spec.path):
            raise
        raise SourceError(f"cannot list {spec.path!r}: {type(exc).__name__}: {exc}") from None


def read_paths_list(url: str, prefix: str = "", skip: int = 0, limit: int | None = None,
                    storage_options: dict | None = None) -> list[str]:
    """``prefix`` + each non-blank line of a (gzip or plain) paths list, from line ``skip`` on, at most ``limit``."""
    if skip < 0 or (limit is not None and limit < 1):
        raise SourceError(f"paths list {url!r}: skip must be >= 0 and limit >= 1 (got skip={skip}, limit={limit})")
    paths: list[str] = []
    seen = 0
    try:
        for number, line in enumerate(iter_lines(url, max_line_bytes=MAX_LIST_LINE, storage_options=storage_options), 1):
            if isinstance(line, LineTooLong):
                raise SourceError(f"paths list {url!r}: line {number} is {line.size} bytes long; not a paths list")
            entry = line.decode("utf-8", errors="strict").strip()
            if not entry:
                continue
            seen += 1
            if seen <= skip:
                continue
            paths.append(_join(prefix, entry))
            if limit is not None and len(paths) >= limit:
                break
    except (*UNREADABLE, UnicodeDecodeError) as exc:  # a remote file past its retries raises an OSError too
        raise SourceError(f"paths list {url!r} cannot be read: {type(exc).__name__}: {exc}") from None
    if not paths:
        raise SourceError(f"paths list {url!r} lists no file" + (f" after skipping {skip}" if skip else ""))
    return paths


def _join(prefix: str, entry: str) -> str:
    if not prefix:
        return entry
    return prefix.rstrip("/") + "/" + entry.lstrip("/")
