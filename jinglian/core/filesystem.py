"""One filesystem layer for inputs: local paths and globs, ``s3://``, ``gs://`` and ``http(s)://`` via fsspec.

Remote files are read as a stream of range requests (``CHUNK_BYTES`` each, the next one fetched while
the current one is parsed), so records flow after the first chunk of a 1 GB WARC, memory stays at two
chunks, and a connection that breaks mid-file costs one retried range request, not the file. A chunk
that still fails after ``RETRY_DELAYS_S`` raises :class:`RemoteReadError` (an ``OSError``: readers
report it like a damaged local file, and the other files run on). Credentials come from each backend's
standard places (environment, profile files, instance metadata); ``storage_options`` carry only
settings such as an endpoint, never secrets (:func:`check_storage_options`).
"""

from __future__ import annotations

import glob
import io
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

CHUNK_BYTES = 16 << 20
# Waits before each retry of a failed range request: bounded (about 15 s in all), then the file fails.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)

_PROTOCOL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# fsspec option names that hold secrets; nested mappings (client_kwargs, config_kwargs) are checked too
_SECRET_NAME = re.compile(r"(?i)(^key$|secret|password|passwd|credential|session_token|access_key|private)")
_TOKEN_MODES = ("anon", "google_default", "cloud", "browser")  # gcsfs `token` values that name a method, not a secret


class RemoteReadError(OSError):
    """A remote file that could not be read (further): not found, refused, or broken past the retries."""


def protocol(path: str) -> str | None:
    match = _PROTOCOL.match(path)
    return match.group(1).lower() if match else None


def is_remote(path: str) -> bool:
    return protocol(path) not in (None, "file")


def _local(path: str) -> str:
    return path[len("file://"):] if protocol(path) == "file" else path


def has_magic(path: str) -> bool:
    """Whether ``path`` is a glob. An http(s) URL never is: ``?`` starts its query and servers list no directories."""
    return protocol(path) not in ("http", "https") and glob.has_magic(path)


def check_storage_options(options: dict, where: str = "storage_options") -> None:
    """Refuse secrets in a job's storage options (job files get shared, and their inputs land in run records)."""
    for name, value in options.items():
        if isinstance(value, dict):
            check_storage_options(value, f"{where}.{name}")
        elif name == "token" and value not in _TOKEN_MODES or _SECRET_NAME.search(str(name)):
            raise ValueError(f"{where}.{name}: credentials do not belong in a job file; use the backend's standard "
                             "places (environment variables, profile files, instance metadata)")


def filesystem(path: str, storage_options: dict | None = None):
    import fsspec

    return fsspec.filesystem(protocol(path) or "file", **(storage_options or {}))


def expand(path: str, storage_options: dict | None = None) -> list[str]:
    """The files a path names: a glob's matches, a directory's files (not hidden ones), or the file itself.

    Sorted, as full paths (remote ones with their protocol). An http(s) URL is taken as it stands: a
    missing one fails as its run's one failed entry rather than failing the job.
    """
    if not is_remote(path):
        path = _local(path)
        if glob.has_magic(path):
            return sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        if os.path.isdir(path):
            return sorted(os.path.join(path, f) for f in os.listdir(path) if not f.startswith("."))
        return [path] if os.path.exists(path) else []
    if protocol(path) in ("http", "https"):
        return [path]
    fs = filesystem(path, storage_options)
    if has_magic(path):
        found = fs.glob(path, detail=True)
        return sorted(fs.unstrip_protocol(p) for p, info in found.items() if info.get("type") == "file")
    if fs.isdir(path):
        found = fs.ls(path, detail=True)
        return sorted(fs.unstrip_protocol(info["name"]) for info in found
                      if info.get("type") == "file" and not os.path.basename(info["name"]).startswith("."))
    return [path] if fs.exists(path) else []


def open_input(path: str, storage_options: dict | None = None, chunk_bytes: int | None = None,
               retry_delays: tuple[float, ...] | None = None):
    """A binary stream of a file, local or remote; remote ones stream by range requests and resume after a break."""
    if not is_remote(path):
        return open(_local(path), "rb")
    return RangeReader(filesystem(path, storage_options), path, chunk_bytes or CHUNK_BYTES,
                       RETRY_DELAYS_S if retry_delays is None else retry_delays)


def open_seekable(path: str, storage_options: dict | None = None):
    """A seekable binary file (Parquet reads its footer first): local, or fsspec's own buffered remote file."""
    if not is_remote(path):
        return open(_local(path), "rb")
    return filesystem(path, storage_options).open(path, "rb")


class RangeReader(io.RawIOBase):
    """A remote file read front to back in range requests, one fetched ahead; each retried with backoff."""

    def __init__(self, fs, path: str, chunk_bytes: int, retry_delays: tuple[float, ...]):
        self.fs, self.path, self.chunk_bytes, self.retry_delays = fs, path, chunk_bytes, retry_delays
        info = self._with_retries(0, lambda: fs.info(path))
        self.size = info.get("size")
        if self.size is None:
            raise RemoteReadError(f"{path}: the server gives no size (Content-Length), so it cannot be read by ranges")
        self._buffer = memoryview(b"")
        self._next = 0  # offset of the next chunk to fetch
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="range-read")
        self._ahead = self._pool.submit(self._fetch, 0) if self.size else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._filled():
            return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if not self._filled():
            return b""
        data = self._buffer[:size].tobytes()  # one copy (RawIOBase.read would copy twice)
        self._buffer = self._buffer[len(data):]
        return data

    def _filled(self) -> bool:
        """Whether bytes are at hand, taking the chunk fetched ahead (and asking for the next) when needed."""
        if not self._buffer and self._ahead is not None:
            data = self._ahead.result()
            self._next += len(data)
            self._ahead = self._pool.submit(self._fetch, self._next) if self._next < self.size else None
            self._buffer = memoryview(data)
        return bool(self._buffer)

    def _fetch(self, start: int) -> bytes:
        end = min(start + self.chunk_bytes, self.size)

        def get():
            data = self.fs.cat_file(self.path, start=start, end=end)
            if len(data) > end - start:  # a 200 with the whole body: retrying would download it again and again
                raise RemoteReadError(f"{self.path}: the server ignores Range requests ({len(data)} bytes for a "
                                      f"range of {end - start}); it cannot be streamed")
            if len(data) < end - start:
                raise EOFError(f"{len(data)} of {end - start} bytes (connection closed early)")
            return data

        return self._with_retries(start, get)

    def _with_retries(self, start: int, call):
        for attempt in range(len(self.retry_delays) + 1):
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - every backend raises its own errors for a broken transfer
                if _final(exc):
                    raise
                if attempt == len(self.retry_delays):
                    raise RemoteReadError(f"{self.path}: read failed at byte {start} after {attempt + 1} tries: "
                                          f"{type(exc).__name__}: {exc}") from exc
                time.sleep(self.retry_delays[attempt])
        raise AssertionError("unreachable")

    def close(self) -> None:
        if not self.closed and hasattr(self, "_pool"):
            if self._ahead is not None:
                self._ahead.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()


def _final(exc: BaseException) -> bool:
    """Whether asking again cannot help: not found, refused (a 4xx), or a file that cannot be streamed."""
    if isinstance(exc, RemoteReadError):
        return True
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        # fsspec's http `info` reports every failure as FileNotFoundError: a 503 or a refused connection
        # behind it is worth another try, a 404 is not
        cause = exc.__cause__
        return cause is None or isinstance(cause, (FileNotFoundError, PermissionError)) or _refused(cause)
    return _refused(exc)


def _refused(exc: BaseException) -> bool:
    """An HTTP 4xx answer (aiohttp's error carries ``status``) other than a timeout or throttling: final."""
    status = getattr(exc, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)
