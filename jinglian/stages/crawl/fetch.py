"""One polite, bounded HTTP fetch: redirects, retries, size and time limits (standard library only).

Every hop of a redirect chain is checked again (scheme, address, robots.txt).
429 and 5xx answers are retried with exponential backoff, honouring
``Retry-After`` up to a cap. The body is read in chunks and decompressed
incrementally, and reading stops as soon as either the wire bytes or the
decoded bytes pass ``max_bytes``, so a huge or gzip-bomb response costs at most
``max_bytes`` of memory. ``timeout_s`` bounds the connect and each read;
``total_timeout_s`` bounds the whole exchange (connect, request, status line,
headers, body), so a server dripping its headers or body one byte at a time is
cut off; the timeout detail names the limit that fired.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from jinglian.stages.crawl.params import CrawlParams
from jinglian.stages.crawl.politeness import HostGates
from jinglian.stages.crawl.safety import AddressPolicy, Refused
from jinglian.stages.crawl.urls import normalize_url
from jinglian.stages.ingest.warc_http import BoundedDecoder, TooLarge

REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class FetchResult:
    url: str  # the URL finally answered (after redirects)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ip: str | None = None
    fetch_time: datetime | None = None
    reason: str | None = None  # crawl:<name> when the fetch did not produce a usable page
    detail: str = ""
    value: float | None = None  # the measured value behind the reason (status code, bytes)


class _Fail(Exception):
    def __init__(self, reason: str, detail: str = "", value: float | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.value = reason, detail, value


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand, whatever the host name resolves to now."""

    def __init__(self, host, port, ip, timeout):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self):
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, ip, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Deadline:
    """Bounds a whole exchange: when ``seconds`` pass, the connection's socket is shut down.

    A socket timeout only bounds each read, so a server sending its status line
    and headers one byte at a time would hold ``getresponse()`` forever;
    shutting the socket ends whatever read is blocked, wherever it is.
    """

    def __init__(self, conn: http.client.HTTPConnection, seconds: float):
        self._conn = conn
        self._ends = time.monotonic() + seconds
        self._fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self._fired.set()
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def expired(self) -> bool:
        return self._fired.is_set() or time.monotonic() >= self._ends

    def cut(self) -> bool:
        """Whether the socket was shut down by the deadline."""
        return self._fired.is_set()

    def cancel(self) -> None:
        self._timer.cancel()


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class Fetcher:
    """Thread-safe: one per stage worker, shared by its fetching threads."""

    def __init__(self, config: CrawlParams, policy: AddressPolicy, gates: HostGates):
        self.config = config
        self.policy = policy
        self.gates = gates
        self._robots: dict[str, RobotFileParser | None] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- one request -----------------------------------------------------------------------
    def _address(self, url: str) -> str:
        """The checked address to connect to for ``url`` (raises _Fail for a refused scheme or address)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Fail("crawl:scheme_not_allowed", url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            return self.policy.resolve(parts.hostname or "", port)
        except Refused as exc:
            raise _Fail(f"crawl:{exc.reason}", str(exc)) from None

    def _request(self, url: str, accept_any_type: bool = False) -> FetchResult:
        parts = urlsplit(url)
        ip = self._address(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        total = self.config.total_timeout_s
        conn = cls(host, port, ip, min(self.config.timeout_s, total))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        fetched_at = datetime.now(timezone.utc)
        deadline = None
        try:
            with self.gates.get(parts.netloc).slot():  # the politeness wait is not part of the exchange
                deadline = _Deadline(conn, total)
                conn.request(
                    "GET",
                    path,
                    headers={"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"},
                )
                resp = conn.getresponse()
                headers = {k.lower(): v for k, v in resp.getheaders()}
                result = FetchResult(url=url, status=resp.status, headers=headers, ip=ip, fetch_time=fetched_at)
                if resp.status in REDIRECTS:
                    return result
                mime = headers.get("content-type", "").split(";")[0].strip().lower()
                if not accept_any_type and resp.status < 300 and mime not in self.config.content_types:
                    raise _Fail("crawl:content_type", mime or "no content-type")
                declared = headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.config.max_bytes:
                    raise _Fail("crawl:too_large", f"Content-Length {declared}", float(declared))
                result.body = self._read_body(resp, headers.get("content-encoding"), deadline)
                return result
        except _Fail:
            raise
        except Exception as exc:
            if deadline is not None and deadline.expired():  # whatever the cut-off socket raised
                raise _Fail("crawl:timeout", f"the exchange (connect, request, headers, body) took longer than "
                            f"total_timeout_s={total} s", total) from None
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise _Fail("crawl:timeout", f"no data for {self.config.timeout_s} s (timeout_s, per read)",
                            self.config.timeout_s) from None
            if isinstance(exc, TooLarge):
                raise _Fail("crawl:too_large", str(exc), float(self.config.max_bytes)) from None
            if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
                raise _Fail("crawl:tls_error", str(exc)) from None
            if isinstance(exc, (OSError, http.client.HTTPException, zlib.error, ValueError)):
                raise _Fail("crawl:connection_error", f"{type(exc).__name__}: {exc}") from None
            raise
        finally:
            if deadline is not None:
                deadline.cancel()
            conn.close()

    def _read_body(self, resp, encoding: str | None, deadline: "_Deadline") -> bytes:
        cap = self.config.max_bytes
        try:
            decoder = BoundedDecoder(encoding, cap)
        except ValueError:
            decoder = BoundedDecoder(None, cap)  # unknown encoding: keep the bytes as sent
        out = bytearray()
        wire = 0
        while True:
            if deadline.expired():
                raise socket.timeout("total time limit")
            chunk = resp.read1(65536)
            if not chunk:
                if deadline.cut():  # the deadline shut the socket: not the body's real end
                    raise socket.timeout("total time limit")
                return bytes(out)
            wire += len(chunk)
            if wire > cap:
                raise TooLarge(f"more than {cap} bytes on the wire")
            out += decoder.feed(chunk)

    # -- robots.txt ---------------------------------------------------------------------------
    def _robots_for(self, url: str) -> RobotFileParser | None:
        """The parsed robots.txt of the URL's host (None: unreachable, so nothing may be fetched)."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if key in self._robots:
                return self._robots[key]
            lock = self._robots_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._robots:
                return self._robots[key]
            parser = RobotFileParser(key + "/robots.txt")
            try:
                result = self._follow(key + "/robots.txt", check_robots=False, accept_any_type=True)
            except _Fail as exc:
                result = FetchResult(url=key, reason=exc.reason)
            if result.status is not None and 200 <= result.status < 300 and result.reason is None:
                parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
            elif result.status is not None and 400 <= result.status < 500:
                parser.parse([])  # no robots.txt: everything allowed (RFC 9309)
            else:
                parser = None  # server error or unreachable: assume complete disallow (RFC 9309)
            if parser is not None:
                delay = parser.crawl_delay(self.config.user_agent)
                if delay:
                    gate = self.gates.get(parts.netloc)
                    gate.min_delay_s = max(gate.min_delay_s, min(float(delay), 60.0))
            with self._lock:
                self._robots[key] = parser
            return parser

    def allowed_by_robots(self, url: str) -> bool:
        parser = self._robots_for(url)
        return parser is not None and parser.can_fetch(self.config.user_agent, url)

    # -- the whole fetch ----------------------------------------------------------------------
    def _with_retries(self, url: str, accept_any_type: bool) -> FetchResult:
        attempt = 0
        while True:
            result = self._request(url, accept_any_type)
            retryable = result.status == 429 or (result.status or 0) >= 500
            if not retryable or attempt >= self.config.retries:
                return result
            wait = retry_after_s(result.headers.get("retry-after"))
            if wait is None:
                wait = self.config.backoff_s * 2**attempt
            time.sleep(min(wait, self.config.max_retry_wait_s))
            attempt += 1

    def _follow(self, url: str, check_robots: bool, accept_any_type: bool = False) -> FetchResult:
        for _ in range(self.config.max_redirects + 1):
            self._address(url)  # refuse a bad scheme or address before anything, robots.txt included
            if check_robots and self.config.respect_robots and not self.allowed_by_robots(url):
                raise _Fail("crawl:robots_disallowed", url)
            result = self._with_retries(url, accept_any_type)
            if result.status not in REDIRECTS:
                return result
            location = result.headers.get("location")
            target = normalize_url(urljoin(url, location)) if location else None
            if target is None:
                raise _Fail("crawl:bad_redirect", f"{result.status} with Location {location!r}")
            url = target
        raise _Fail("crawl:too_many_redirects", f"more than {self.config.max_redirects} redirects", float(self.config.max_redirects))

    def fetch(self, url: str) -> FetchResult:
        """Never raises for a network or policy problem: the result's ``reason`` names it."""
        normal = normalize_url(url)
        if normal is None:
            return FetchResult(url=url, reason="crawl:bad_url", detail=url)
        try:
            result = self._follow(normal, check_robots=True)
        except _Fail as exc:
            return FetchResult(url=normal, reason=exc.reason, detail=exc.detail, value=exc.value)
        if result.status is not None and result.status >= 400:
            result.reason, result.value = f"crawl:http_{result.status}", float(result.status)
        return result
