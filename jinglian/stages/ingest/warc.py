"""WARC and WET readers: one record at a time from a plain or gzip stream.

Our own parser (no warcio): a record is a ``WARC/x.y`` version line, header
lines, a blank line and ``Content-Length`` bytes of block. Real archives break
the rules in known ways, handled here:

- Dolma writes ``WARC-Target-URI: <https://...>`` (angle brackets kept);
- ClueWeb09 (WARC/0.18) has dates like ``2008-10-294T05:21:46-0700`` and blocks
  whose ``Content-Length`` is off by the blank lines around the record end
  (tolerated: only CR/LF may lie between a block and the next record);
- a truncated or garbled record; a Content-Length that lies.

Each record gives exactly one item. A block must end where its record ends
(the CRLF CRLF trailer, the next ``WARC/x.y`` line or the end of the file
follows) and must not hold another record's header; otherwise the record is
one :class:`ReadError` and reading resumes at the next record, so a lying
Content-Length (too long, too short, 10^12, covering the next record) costs
only its own record. Damaged gzip data is skipped to the next gzip member.
"""

from __future__ import annotations

import io
import json
import re
import zlib

from jinglian.core.filesystem import open_input
from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.compression import UNREADABLE, open_binary, unreadable
from jinglian.stages.ingest.warc_http import TooLarge, decode_payload, mime_and_charset, parse_headers, parse_http_response

DEFAULT_MAX_BYTES = 16 << 20  # larger blocks are skipped (and reported), never held in memory
MAX_HEADER_LINES = 512


class _Lines:
    """A binary stream read as lines (bounded length) or exact byte counts, with bytes that can be put back."""

    LINE = 1 << 16

    def __init__(self, raw):
        self.f = io.BufferedReader(raw, buffer_size=1 << 20)
        self._back = b""  # bytes put back by unread(), read (from _at on) before the stream
        self._at = 0  # an offset, not slicing: a large put-back span is not copied once per line

    def unread(self, data: bytes) -> None:
        if not data:
            return
        if self._at >= len(data) and self._back[self._at - len(data) : self._at] == data:  # a peek: step back
            self._at -= len(data)
            return
        self._back = data + self._back[self._at :]
        self._at = 0

    def readline(self) -> bytes:
        if self._at >= len(self._back):
            return self.f.readline(self.LINE)
        end = self._back.find(b"\n", self._at, self._at + self.LINE)
        n = end + 1 - self._at if end >= 0 else min(len(self._back) - self._at, self.LINE)
        line = self._back[self._at : self._at + n]
        self._at += n
        if end < 0 and len(line) < self.LINE:
            line += self.f.readline(self.LINE - len(line))
        return line

    def read(self, n: int) -> bytes:
        head = self._back[self._at : self._at + n]
        self._at += len(head)
        return head + self.f.read(n - len(head)) if len(head) < n else head

    def skip(self, n: int) -> int:
        done = 0
        while done < n:
            chunk = self.read(min(1 << 20, n - done))
            if not chunk:
                break
            done += len(chunk)
        return done

    def skip_scanning(self, n: int, find) -> tuple[int, int | None]:
        """Skip up to ``n`` bytes, stopping at a record header that ``find(data, final)`` locates in them.

        Returns (bytes skipped, offset of the header in the skipped span or None); the header is put back.
        Memory stays at one chunk plus the overlap, whatever ``n`` claims. ``find`` None: skip only.
        """
        if find is None:
            return self.skip(n), None
        done, tail = 0, b""
        while done < n:
            want = min(1 << 20, n - done)
            chunk = self.read(want)
            if not chunk:
                break
            window = tail + chunk
            inner = find(window, len(chunk) < want or done + len(chunk) >= n)
            if inner is not None:
                self.unread(window[inner:])
                offset = done - len(tail) + inner
                return offset, offset
            done += len(chunk)
            tail = window[-_SCAN_OVERLAP:]
        return done, None


class GzipMembers(io.RawIOBase):
    """Multi-member gzip decoded incrementally; damaged data is skipped to the next member.

    ``gzip.open`` raises on a truncated file from inside a buffered read, which
    loses the records already decoded in that buffer. Here everything decoded
    before the damage is delivered; corrupt data is skipped up to the next gzip
    member header (with a member per record, as Common Crawl writes, only the
    damaged record is lost), each skip noted in ``damaged``; ``error`` says
    what ended the stream early (a cut-off file).
    """

    MAGIC = b"\x1f\x8b\x08"

    def __init__(self, path: str, storage_options: dict | None = None):
        self._f = open_input(path, storage_options)
        self._z = zlib.decompressobj(31)
        self._pending = b""
        self._carry = b""  # raw bytes to decode before reading more of the file
        self._done = False
        self._in_member = False
        self.error: str | None = None
        self.damaged: list[str] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._done:
            self._fill()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _fill(self) -> None:
        data, self._carry = self._carry, b""
        if self._z.eof:  # next member
            data = self._z.unused_data + data
            self._z = zlib.decompressobj(31)
            self._in_member = False
        if not data:
            data = self._f.read(1 << 16)
        if not self._in_member and not data.strip(b"\0"):  # end of file (some writers pad with zeros)
            self._done = not data
            return
        if not data:
            self.error = "gzip stream cut off (truncated file)"
            self._done = True
            return
        self._in_member = True
        try:
            self._pending = self._z.decompress(data)
        except zlib.error as exc:
            self._skip_damage(data, exc)

    def _skip_damage(self, data: bytes, exc: zlib.error) -> None:
        """Drop raw bytes up to the next member header after the start of ``data`` (or to the end of the file)."""
        skipped, search = 1, data[1:]
        while True:
            at = search.find(self.MAGIC)
            if at >= 0:
                self.damaged.append(f"corrupt gzip data ({exc}): {skipped + at} bytes skipped to the next gzip member")
                self._carry = search[at:]
                self._z = zlib.decompressobj(31)
                self._in_member = False
                return
            more = self._f.read(1 << 16)
            if not more:
                self.damaged.append(f"corrupt gzip data ({exc}): the last {skipped + len(search)} bytes of the file "
                                    "skipped (no gzip member after them)")
                self._done = True
                return
            keep = search[-(len(self.MAGIC) - 1):]  # a header may straddle two reads
            skipped += len(search) - len(keep)
            search = keep + more

    def close(self) -> None:
        self._f.close()
        super().close()


def open_archive(path: str, storage_options: dict | None = None):
    """A binary stream of an archive file (local or remote): gzip decoded leniently, other compressions via open_binary."""
    return GzipMembers(path, storage_options) if path.endswith(".gz") else open_binary(path, storage_options)


def iter_warc_records(stream, max_bytes: int = DEFAULT_MAX_BYTES):
    """Yield ``(warc_headers, block)`` or a :class:`ReadError` per record of a binary stream.

    Exactly one item per record. A record whose Content-Length does not land on
    a record boundary (or whose claimed block holds the header of another
    record) is one error; reading resumes at the next ``WARC/x.y`` line.
    """
    lines = _Lines(stream)
    number = 0
    quiet = False  # resynchronising after a failed record: what is skipped belongs to that record
    while True:
        skipped = 0
        line = lines.readline()
        while line and not _VERSION_LINE.match(line):
            if line.strip():
                skipped += 1
            line = lines.readline()
        if skipped and not quiet:
            yield ReadError(f"record {number}: {skipped} stray line(s) before the next WARC record skipped")
        quiet = False
        if not line:
            return
        number += 1
        header_lines = []
        while True:
            h = lines.readline()
            if not h or not h.strip():
                break
            header_lines.append(h)
            if len(header_lines) > MAX_HEADER_LINES:
                break
        headers = parse_headers(header_lines)
        target = _clean_uri(headers.get("warc-target-uri"))
        try:
            length = int(headers.get("content-length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            yield ReadError(f"record {number}: bad or missing Content-Length; {_RESUMES}", url=target)
            quiet = True
            continue
        error = yield from _read_block(lines, number, headers, length, max_bytes)
        if error is not None:
            error.url = target
            yield error
            quiet = True


_RESUMES = "record failed, reading resumes at the next record"
_VERSION_LINE = re.compile(rb"WARC/\d+\.\d+\s*$")
# a record header inside a block: a blank line (the previous record's end), then a version line
_INNER_START = re.compile(rb"\n\r?\n(WARC/\d+\.\d+\r?\n)")
_INNER_FIELDS = (re.compile(rb"(?im)^content-length:[ \t]*\d+[ \t]*\r?$"), re.compile(rb"(?im)^warc-(?:type|record-id):"))
_WARC_PAYLOAD = re.compile(rb"(?im)^content-type:[^\r\n]*warc")
_SCAN_OVERLAP = 1 << 16  # a record header longer than this is not recognised across chunk boundaries


def _read_block(lines: _Lines, number: int, headers: dict, length: int, max_bytes: int):
    """Read one record's block: yields ``(headers, block)`` and returns None, or returns the record's ReadError."""
    if length > max_bytes:
        head = lines.read(8192)
        lines.unread(head)
        got, inner = lines.skip_scanning(length, None if _holds_warc(headers, head) else _record_start)
        if inner is not None:
            return _overrun(number, length, inner)
        if got < length:
            return ReadError(f"record {number}: Content-Length {length} exceeds max_bytes={max_bytes} and the file "
                             f"ends {got} bytes into the block")
        return ReadError(f"record {number}: block of {length} bytes exceeds max_bytes={max_bytes}")
    block = lines.read(length)
    inner = _record_start(block, final=True)
    if inner is not None and _holds_warc(headers, block):
        inner = None
    if inner is not None:
        lines.unread(block[inner:])
        return _overrun(number, length, inner)
    if not _at_boundary(lines):
        # the claimed end falls inside something else; a record start before it is where the block ended
        weak = _INNER_START.search(block)
        if weak is not None:
            lines.unread(block[weak.start(1):])
            return _overrun(number, length, weak.start(1))
        return ReadError(f"record {number}: Content-Length {length} does not end the record (no record boundary "
                         f"follows it); {_RESUMES}")
    if len(block) < length:
        return ReadError(f"record {number}: truncated ({len(block)} of {length} block bytes)")
    yield headers, block
    return None


def _overrun(number: int, length: int, inner: int) -> ReadError:
    return ReadError(f"record {number}: Content-Length {length} runs past its record: the next record's WARC header "
                     f"starts {inner} bytes into the claimed block; {_RESUMES}")


def _at_boundary(lines: _Lines) -> bool:
    """Whether a block ends where a record ends: the CRLF CRLF trailer follows (anything after it is
    reported as stray lines), or the next record or the end of the file, perhaps after blank lines."""
    following = lines.read(64)
    lines.unread(following)
    if following.startswith((b"\r\n\r\n", b"\n\n")):
        return True
    rest = following.lstrip(b"\r\n")
    return not rest.strip() or rest.startswith(b"WARC/")


def _record_start(data: bytes, final: bool) -> int | None:
    """Offset of a WARC record header (version line, WARC-Type or WARC-Record-ID, Content-Length) that
    starts after a blank line inside ``data``; one cut off by the end of ``data`` counts only if ``final``."""
    for match in _INNER_START.finditer(data):
        start = match.start(1)
        end = data.find(b"\n\r\n", start)
        if end < 0:
            end = data.find(b"\n\n", start)
        if end < 0 and not final:
            continue
        header = data[start : end if end >= 0 else len(data)]
        if all(field.search(header) for field in _INNER_FIELDS):
            return start
    return None


def _holds_warc(headers: dict, block_start: bytes) -> bool:
    """Whether the record archives a WARC file, whose own records are content, not boundaries."""
    if "warc" in (headers.get("content-type") or "").lower():
        return True
    if not block_start.startswith(b"HTTP/"):
        return False
    end = block_start.find(b"\r\n\r\n", 0, 1 << 16)
    return _WARC_PAYLOAD.search(block_start, 0, end if end >= 0 else min(len(block_start), 1 << 16)) is not None


def _clean_uri(uri: str | None) -> str | None:
    if uri is None:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):  # Dolma's quirk
        uri = uri[1:-1].strip()
    return uri or None


def archive_records(path: str, parse, max_bytes: int, storage_options: dict | None = None):
    """``parse``'s records of a file, with a damaged compressed stream reported as a final ReadError."""
    try:
        with open_archive(path, storage_options) as raw:
            yield from parse(raw, max_bytes)
            for damage in getattr(raw, "damaged", ()):
                yield ReadError(damage)
            if getattr(raw, "error", None):
                yield ReadError(f"unreadable from here on: {raw.error}")
    except UNREADABLE as exc:  # a corrupt or mislabelled zstd file and the like: nothing after is decodable
        yield ReadError(unreadable(path, exc, " from here on"))



def warc_metadata(headers: dict) -> dict:
    """The WARC fields kept on each document."""
    out = {
        "url": _clean_uri(headers.get("warc-target-uri")),
        "fetch_time": headers.get("warc-date"),
        "warc_type": headers.get("warc-type"),
        "warc_record_id": _clean_uri(headers.get("warc-record-id")),
    }
    for name in ("warc-identified-payload-type", "warc-identified-content-language", "warc-ip-address"):
        if name in headers:
            out[name.replace("-", "_")] = headers[name]
    return out


def _documents(path: str, types: set[str], max_bytes: int, storage_options: dict | None = None):
    """``(headers, block, doc)`` for records of the given WARC types (doc: metadata + the record id as id),
    and the read errors as they come."""
    for item in archive_records(path, iter_warc_records, max_bytes, storage_options):
        if isinstance(item, ReadError):
            yield item
            continue
        headers, block = item
        if headers.get("warc-type") not in types:
            continue
        doc = warc_metadata(headers)
        doc_id = doc.pop("warc_record_id")
        if doc_id:
            doc["id"] = doc_id
        yield headers, block, doc


def read_warc(path: str, options: dict):
    """Documents from ``response`` and ``resource`` records: raw body bytes in ``content``.

    options: ``record_types`` (default response+resource), ``max_bytes`` per record.
    """
    types = set(options.get("record_types", ["response", "resource"]))
    max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
    for item in _documents(path, types, max_bytes, options.get("storage_options")):
        if isinstance(item, ReadError):
            yield item
            continue
        headers, block, doc = item
        try:
            doc = _with_payload(headers, block, doc, max_bytes)
        except TooLarge as exc:
            doc = ReadError(f"{doc.get('id')}: {exc}", url=doc["url"])
        except Exception as exc:  # noqa: BLE001 - one odd record fails alone; the file reads on
            doc = ReadError(f"{doc.get('id')}: {type(exc).__name__}: {exc}", url=doc["url"])
        yield doc


def _with_payload(headers: dict, block: bytes, doc: dict, max_bytes: int) -> dict:
    """The document with the record's payload (an archived HTTP response decoded) and its content type."""
    if headers.get("warc-type") == "response" and block.startswith(b"HTTP/"):
        response = parse_http_response(block)
        content = decode_payload(response, max_bytes)
        doc["http_status"] = response.status
        doc["headers"] = json.dumps(response.headers, ensure_ascii=False)
        content_type = response.headers.get("content-type")
    else:
        content = block
        content_type = headers.get("content-type")
    doc["content_type"], doc["charset"] = mime_and_charset(content_type)
    doc["content"] = content
    return doc


def read_wet(path: str, options: dict):
    """Documents from WET ``conversion`` records (already plain UTF-8 text)."""
    max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
    for item in _documents(path, {"conversion"}, max_bytes, options.get("storage_options")):
        if isinstance(item, ReadError):
            yield item
            continue
        _, block, doc = item
        doc["text"] = block.decode("utf-8", errors="replace").strip()
        yield doc


read_warc.options = {"max_bytes": int, "record_types": list[str]}
read_wet.options = {"max_bytes": int}
