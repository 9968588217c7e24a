"""Bytes of a web page -> Unicode, the way a Chinese crawl needs it.

Order of evidence: byte-order mark, the HTTP ``Content-Type`` charset, the
page's own ``<meta charset>`` / ``http-equiv`` / XML declaration, then
statistical detection (charset_normalizer). A declared charset is used only if
the bytes decode under it without error, because Chinese sites often declare
the wrong one (``utf-8`` on a GBK page, a server's default ``iso-8859-1``).

Legacy Chinese charsets are widened to their supersets: pages labelled
GB2312 or GBK routinely contain GBK/GB18030-only characters, and Big5 pages
contain HKSCS or Microsoft (cp950) extensions.
"""

from __future__ import annotations

import codecs
import re

from jinglian.stages.extract.mojibake import CJK_CODECS, repair

# label -> the codec to decode with (a superset of what the label promises)
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}
# charsets that decode any byte string: they prove nothing, so page-level evidence goes first
_ANY_BYTES = {"cp1252", "latin-1", "iso8859-1"}

_META = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)|<\?xml[^>]{0,100}?encoding\s*=\s*["']([a-zA-Z0-9_.-]+)""",
    re.IGNORECASE,
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DETECT_BYTES = 256 << 10


def codec_for(label: str | None) -> str | None:
    """A Python codec name for a charset label, widened; None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WIDER.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _WIDER.get(name, name)


def meta_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KiB."""
    m = _META.search(data[:4096])
    if not m:
        return None
    return (m.group(1) or m.group(2)).decode("ascii", errors="ignore") or None


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_DETECT_BYTES]).best()
    return codec_for(best.encoding) if best else None


def _strict(data: bytes, codec: str) -> str:
    """Decode without errors, except a multi-byte character cut off at the very end (a truncated page)."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:
            return data[: exc.start].decode(codec) + "\ufffd"
        raise


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str, str]:
    """Returns ``(text, codec, how)``; ``how`` is bom|http|meta|detected|fallback, or repaired: the bytes were
    Latin-1-decoded CJK text, put back into the declared CJK charset (``mojibake.py``)."""
    http, meta = codec_for(declared), codec_for(meta_charset(data))
    text, codec, how = _decode(data, http, meta)
    for cjk in dict.fromkeys((meta, http)):  # each declared CJK charset once
        if cjk not in CJK_CODECS:
            continue
        # decoded with the CJK charset itself, the UTF-8 bytes of such Latin text pass as (garbled) CJK:
        # the Latin text is then the bytes read as UTF-8
        latin = text if cjk != codec else _utf8(data)
        repaired = repair(latin, cjk) if latin else None
        if repaired is not None:
            return repaired, cjk, "repaired"
    return text, codec, how


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decode(data: bytes, http: str | None, meta: str | None) -> tuple[str, str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec, "bom"
    candidates = [(http, "http"), (meta, "meta")]
    if http in _ANY_BYTES and meta and meta != http:
        candidates.reverse()
    for codec, how in candidates:
        if not codec:
            continue
        try:
            return _strict(data, codec), codec, how
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return _strict(data, "utf-8"), "utf-8", "detected"
    except UnicodeDecodeError:
        pass
    detected = _detect(data)
    if detected:
        try:
            return _strict(data, detected), detected, "detected"
        except (UnicodeDecodeError, LookupError):
            pass
    fallback = http or meta or detected or "utf-8"
    return data.decode(fallback, errors="replace"), fallback, "fallback"
