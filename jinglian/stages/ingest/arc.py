"""Internet Archive ARC reader (v1 and v2), one record at a time, plain or gzip.

A record is one header line — ``URL IP-address Archive-date Content-type Length``
(v1; v2 adds result code, checksum, location, offset and file name before the
length, which is always the last field) — followed by ``Length`` bytes: the HTTP
response as fetched. The first record (``filedesc://``) describes the file and
is skipped, as are ``dns:`` records.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from jinglian.stages.ingest import ReadError
from jinglian.stages.ingest.warc import DEFAULT_MAX_BYTES, _Lines, archive_records
from jinglian.stages.ingest.warc_http import TooLarge, decode_payload, mime_and_charset, parse_http_response


def _arc_date(value: str) -> str | None:
    try:
        return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def iter_arc_records(stream, max_bytes: int = DEFAULT_MAX_BYTES):
    """Yield ``(fields, block)`` or a :class:`ReadError` per record.

    Exactly one item per record: a record whose length does not land on a record
    boundary (or whose claimed block holds another record's header line) is one
    error, and reading resumes at the next header line.
    """
    lines = _Lines(stream)
    number = 0
    quiet = False  # resynchronising after a failed record: what is skipped belongs to that record
    while True:
        line = lines.readline()
        while line and (not line.strip() or (quiet and not _HEADER.match(line))):
            line = lines.readline()
        quiet = False
        if not line:
            return
        number += 1
        fields = line.decode("latin-1").split()
        try:
            if len(fields) < 5:
                raise ValueError
            length = int(fields[-1])
            if length < 0:
                raise ValueError
        except ValueError:
            yield ReadError(f"record {number}: bad ARC header line {line[:200]!r}; {_RESUMES}")
            quiet = True  # its block, if any, is skipped up to the next header line
            continue
        error = yield from _read_arc_block(lines, number, fields, length, max_bytes)
        if error is not None:
            error.url = fields[0]
            yield error
            quiet = True


# an ARC header line: URL, address, 14-digit date, content type, (v2: more fields), length
_HEADER = re.compile(rb"(?:[a-zA-Z][\w+.-]*:\S*) \S+ \d{14} \S+(?: \S+)* \d+\r?\n")
_HEADER_START = re.compile(rb"[a-zA-Z][\w+.-]*:\S* \S+ \d{14} ")
_INNER_HEADER = re.compile(rb"\n\r?\n?((?:[a-zA-Z][\w+.-]*:\S*) \S+ \d{14} \S+(?: \S+)* \d+\r?\n)")
_RESUMES = "record failed, reading resumes at the next record"


def _inner_header(data: bytes, final: bool = True) -> int | None:
    match = _INNER_HEADER.search(data)
    return match.start(1) if match else None


def _read_arc_block(lines: _Lines, number: int, fields: list[str], length: int, max_bytes: int):
    """Read one record's block: yields ``(fields, block)`` and returns None, or returns the record's ReadError."""
    if length > max_bytes:
        got, inner = lines.skip_scanning(length, _inner_header)
        if inner is not None:
            return _overrun(number, length, inner)
        if got < length:
            return ReadError(f"record {number}: length {length} exceeds max_bytes={max_bytes} and the file ends "
                             f"{got} bytes into the block")
        return ReadError(f"record {number}: length {length} bytes exceeds max_bytes={max_bytes}")
    block = lines.read(length)
    inner = _inner_header(block)
    if inner is not None:
        lines.unread(block[inner:])
        return _overrun(number, length, inner)
    following = lines.read(4096)
    lines.unread(following)
    rest = following.lstrip(b"\r\n")
    if rest and not _HEADER_START.match(rest):  # the length ends neither the file nor before a header line
        return ReadError(f"record {number}: length {length} does not end the record (no record boundary follows it); "
                         f"{_RESUMES}")
    if len(block) < length:
        return ReadError(f"record {number}: truncated ({len(block)} of {length} bytes)")
    yield fields, block
    return None


def _overrun(number: int, length: int, inner: int) -> ReadError:
    return ReadError(f"record {number}: length {length} runs past its record: the next record's header line starts "
                     f"{inner} bytes into the claimed block; {_RESUMES}")


def read_arc(path: str, options: dict):
    max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
    for item in archive_records(path, iter_arc_records, max_bytes, options.get("storage_options")):
        if isinstance(item, ReadError):
            yield item
            continue
        fields, block = item
        url = fields[0]
        if url.startswith(("filedesc:", "dns:")):
            continue
        try:
            doc = _arc_document(fields, block, max_bytes)
        except TooLarge as exc:
            doc = ReadError(f"{url}: {exc}", url=url)
        except Exception as exc:  # noqa: BLE001 - one odd record fails alone; the file reads on
            doc = ReadError(f"{url}: {type(exc).__name__}: {exc}", url=url)
        yield doc


def _arc_document(fields: list[str], block: bytes, max_bytes: int) -> dict:
    url = fields[0]
    doc = {"url": url, "fetch_time": _arc_date(fields[2]), "ip_address": fields[1]}
    content_type = fields[3]
    if block.startswith(b"HTTP/"):
        response = parse_http_response(block)
        block = decode_payload(response, max_bytes)
        doc["http_status"] = response.status
        doc["headers"] = json.dumps(response.headers, ensure_ascii=False)
        content_type = response.headers.get("content-type", content_type)
    doc["content_type"], doc["charset"] = mime_and_charset(content_type)
    doc["content"] = block
    return doc


read_arc.options = {"max_bytes": int}
