"""Real servers on 127.0.0.1 for the tests of remote inputs and token shards on object storage.

:func:`serve_files` is a plain HTTP server with Range requests and ways to break a read;
:func:`moto_s3` is moto's S3-compatible server with a log of the requests it answered.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import free_port

# moto accepts any key; readers take them from the environment, as they would real ones
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class FileHandler(BaseHTTPRequestHandler):
    """GET and HEAD of ``server.files`` with single ``bytes=a-b`` ranges. A read of a path in ``server.drop``
    drops once (the path is then removed); one from ``server.broken[path]`` bytes on drops every time. A path in
    ``server.corrupt`` is answered once with its bytes flipped (a torn object, a bad proxy), then removed."""

    protocol_version = "HTTP/1.1"

    def do_HEAD(self):
        self._serve(send_body=False)

    def do_GET(self):
        self._serve(send_body=True)

    def _serve(self, send_body: bool):
        data = self.server.files.get(self.path)
        wanted = self.headers.get("Range")
        self.server.requests.append((self.command, self.path, wanted))
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = 0, len(data)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted or "")
        if match:
            start, end = int(match[1]), min(len(data), int(match[2]) + 1 if match[2] else len(data))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not send_body:
            return
        if self.path in self.server.drop or start >= self.server.broken.get(self.path, len(data)):
            self.server.drop.discard(self.path)  # promise the range, send half of it, hang up
            self.wfile.write(data[start : start + (end - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path in self.server.corrupt:
            self.server.corrupt.discard(self.path)
            self.wfile.write(bytes(b ^ 0xFF for b in data[start:end]))
            return
        self.wfile.write(data[start:end])

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_files(files: dict[str, bytes], drop: set[str] = frozenset(), corrupt: set[str] = frozenset()):
    """An HTTP server on 127.0.0.1 serving ``files`` (URL path -> bytes) with Range requests; yields it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    server.daemon_threads = True
    server.files, server.drop, server.broken, server.requests = files, set(drop), {}, []
    server.corrupt = set(corrupt)
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _RequestLog(logging.Handler):
    """Collects (method, path) of each request from werkzeug's access log (moto's server runs on werkzeug)."""

    LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/')
    COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours some lines (GETs answered 206)

    def __init__(self):
        super().__init__(logging.INFO)
        self.requests: list[tuple[str, str]] = []

    def emit(self, record):
        match = self.LINE.search(self.COLOUR.sub("", record.getMessage()))
        if match:
            self.requests.append((match[1], match[2].split("?", 1)[0]))


class MotoS3:
    def __init__(self, endpoint: str, log: _RequestLog):
        self.endpoint, self._log = endpoint, log

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, /bucket/key) of every request answered so far, in order."""
        return self._log.requests

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)


@contextlib.contextmanager
def moto_s3():
    """moto's S3 server on 127.0.0.1 (credentials from :data:`S3_ENV`, which the caller sets); yields a :class:`MotoS3`."""
    from moto.server import ThreadedMotoServer

    log = _RequestLog()
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.INFO)
    werkzeug.addHandler(log)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoS3(f"http://127.0.0.1:{port}", log)
    finally:
        server.stop()
        # fsspec keeps one S3FileSystem per set of options; one made from the environment's endpoint
        # would otherwise serve the next test with this server's port
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        werkzeug.removeHandler(log)
        werkzeug.setLevel(level)
