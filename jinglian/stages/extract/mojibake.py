"""Pages whose CJK bytes were decoded as Latin-1 before they reached the stage, and the repair.

A page stored as text (a JSONL or Parquet ``html`` column, a scraper's output) may
have been decoded upstream with Latin-1 or cp1252, a common default, although its
bytes were GBK, Big5, Shift_JIS or EUC: every CJK character then became two Latin
letters and symbols ("ÕâÊÇ" for "这是"), and the page re-encoded as UTF-8 decodes
cleanly here, so nothing upstream of this module notices. trafilatura then reads the
``<meta charset=gb2312>`` of that text and decodes its UTF-8 bytes as GBK a second
time ("脮芒脢脟"). The page still says what its bytes were: a declared CJK charset
with no CJK character in the text, and almost every non-ASCII character a Latin-1
or cp1252 byte. Those bytes, put back and decoded with the declared charset, give
the page as it was written.
"""

from __future__ import annotations

import re

from jinglian.core.cjk import HAN_SPANS, HANGUL_SPANS, KANA_SPANS, char_class

# multi-byte CJK codecs, by the names charset.codec_for gives them
CJK_CODECS = frozenset({"gb18030", "big5hkscs", "shift_jis", "cp932", "euc_jp", "euc_kr", "cp949", "iso2022_jp"})
_CJK = re.compile(f"[{char_class(HAN_SPANS + KANA_SPANS + HANGUL_SPANS)}]")
# cp1252's letters for bytes 0x80-0x9f (Latin-1 gives those bytes as C1 controls, which map to themselves)
_CP1252_BYTE = {}
for _b in range(0x80, 0xA0):
    try:
        _CP1252_BYTE[ord(bytes([_b]).decode("cp1252"))] = _b
    except UnicodeDecodeError:
        pass
# fewer non-ASCII characters than this say too little (a page of English with a few symbols)
MIN_NON_ASCII = 64
# the share of non-ASCII characters that must be Latin-1/cp1252 bytes, and the most CJK characters there may be
# (as a share of the non-ASCII ones): a page with real CJK text or other scripts in it was decoded right
LATIN_SHARE = 0.98
MAX_CJK_SHARE = 0.01
# the share of them that must sit in runs of two or more
IN_RUNS_SHARE = 0.9
# the repaired text must be CJK, with few undecodable bytes: otherwise the Latin text was real
MIN_REPAIRED_CJK_SHARE = 0.5
MAX_REPLACEMENT_SHARE = 0.02
# layers of the same mistake unwound at most (each one doubles the text's bytes)
MAX_LAYERS = 3


def _byte_of(char: str) -> int | None:
    code = ord(char)
    return code if code <= 0xFF else _CP1252_BYTE.get(code)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_AS_BYTE = re.compile("[\x80-\xff" + "".join(map(chr, _CP1252_BYTE)) + "]")
_RUN = re.compile(r"[^\x00-\x7f]{2,}")


def looks_latin1_decoded(text: str) -> bool:
    """Almost every non-ASCII character is a Latin-1/cp1252 byte, they come in runs (a multi-byte character is
    two or more of them; the accents of a real Latin-script text sit alone between ASCII letters), and there is
    (almost) no CJK. Regular expressions only: this runs on every page whose declared CJK charset was not used."""
    high = len(_NON_ASCII.findall(text))
    if high < MIN_NON_ASCII or len(_CJK.findall(text)) > MAX_CJK_SHARE * high:
        return False
    in_runs = sum(map(len, _RUN.findall(text)))
    return len(_AS_BYTE.findall(text)) >= LATIN_SHARE * high and in_runs >= IN_RUNS_SHARE * high


def _bytes_of(text: str, codec: str) -> bytes:
    out = bytearray()
    for char in text:
        byte = _byte_of(char)
        out += bytes([byte]) if byte is not None else char.encode(codec, errors="replace")
    return bytes(out)


def repair(text: str, codec: str) -> str | None:
    """The page decoded with ``codec`` from the bytes its Latin-1 text stands for; None when it is not that case.

    A page may have been through the mistake twice (Latin-1 text encoded as UTF-8 and decoded as Latin-1
    again): bytes that are valid UTF-8 and decode to Latin-1-looking text again are unwound once more.
    """
    if codec not in CJK_CODECS or not looks_latin1_decoded(text):
        return None
    for _ in range(MAX_LAYERS):
        raw = _bytes_of(text, codec)
        try:
            inner = raw.decode("utf-8")
        except UnicodeDecodeError:
            break
        if not looks_latin1_decoded(inner):
            break
        text = inner
    repaired = raw.decode(codec, errors="replace")
    high = sum(1 for c in repaired if ord(c) > 0x7F)
    cjk = len(_CJK.findall(repaired))
    if not high or cjk < MIN_REPAIRED_CJK_SHARE * high or repaired.count("\ufffd") > MAX_REPLACEMENT_SHARE * high:
        return None
    return repaired
