"""Open plain, gzip or zstd files by their suffix, as a binary stream."""

from __future__ import annotations

import gzip
import os
import zlib

import zstandard

from jinglian.core.filesystem import is_remote, open_input

# What a damaged, cut or mislabelled file raises while it is opened or decoded (a ".zst" that is not zstd
# raises ZstdError, which is not an OSError): from there on the file cannot be read.
UNREADABLE = (OSError, EOFError, ValueError, zlib.error, zstandard.ZstdError)


def unreadable(path: str, exc: BaseException, where: str = "") -> str:
    """A one-line account of a file that cannot be read (further), naming the file."""
    return f"{os.path.basename(path)}: unreadable{where}: {type(exc).__name__}: {exc}"


def open_binary(path: str, storage_options: dict | None = None):
    """A decompressed binary stream of a local or remote file (see jinglian.core.filesystem)."""
    if path.endswith(".gz"):
        return _OwningGzip(open_input(path, storage_options)) if is_remote(path) else gzip.open(path, "rb")
    if path.endswith(".zst") or path.endswith(".zstd"):
        return zstandard.ZstdDecompressor().stream_reader(open_input(path, storage_options), closefd=True)
    return open_input(path, storage_options)


class _OwningGzip(gzip.GzipFile):
    """gzip over a stream it closes with itself (GzipFile leaves a given fileobj open)."""

    def __init__(self, raw):
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class LineTooLong:
    """Stands in for a line longer than the limit; its bytes were skipped, never held in memory."""

    def __init__(self, size: int):
        self.size = size


def iter_lines(path: str, max_line_bytes: int = 64 << 20, chunk_size: int = 1 << 16, storage_options: dict | None = None):
    """Lines as bytes (newline stripped), streamed; over-long lines come as :class:`LineTooLong`.

    Reads small chunks with ``read1`` so that a truncated or corrupt compressed
    file still yields every complete line before the damage; the decompression
    error then propagates to the caller.
    """
    with open_binary(path, storage_options) as raw:
        read = getattr(raw, "read1", raw.read)
        parts: list[bytes] = []  # pieces of the current line
        size = 0
        skipped = 0  # bytes of a too-long line dropped so far
        while True:
            chunk = read(chunk_size)
            if not chunk:
                break
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                piece = chunk[start:] if end < 0 else chunk[start:end]
                if skipped or size + len(piece) > max_line_bytes:
                    skipped += size + len(piece)
                    parts, size = [], 0
                else:
                    parts.append(piece)
                    size += len(piece)
                if end < 0:
                    break
                if skipped:
                    yield LineTooLong(skipped)
                else:
                    yield b"".join(parts).rstrip(b"\r")
                parts, size, skipped = [], 0, 0
                start = end + 1
        if skipped:
            yield LineTooLong(skipped)
        elif size:
            yield b"".join(parts).rstrip(b"\r")


def read_capped(path: str, max_bytes: int, storage_options: dict | None = None) -> tuple[bytes | None, str | None]:
    """A whole (decompressed) file as ``(data, None)``, or ``(None, why)`` if unreadable or over ``max_bytes``.

    Never reads more than ``max_bytes + 1`` bytes, so a huge file or a decompression bomb costs nothing.
    """
    try:
        with open_binary(path, storage_options) as f:
            data = f.read(max_bytes + 1)
    except UNREADABLE as exc:
        return None, unreadable(path, exc)
    if len(data) > max_bytes:
        return None, f"{os.path.basename(path)}: larger than max_bytes={max_bytes}"
    return data, None
