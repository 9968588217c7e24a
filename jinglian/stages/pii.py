"""The ``pii`` stage: replace personal data with typed placeholders.

Detected: e-mail addresses (ASCII and internationalised domains, full-width
``＠``), phone numbers (mainland mobile with or without +86/0086, mainland
landlines with an area code in ASCII or full-width brackets or before a
separator, extensions, 400/800 service numbers, international numbers written
with ``+``, a bare local number right after 电话/Tel), mainland resident ID
numbers (18 digits with the GB 11643 check character, whole or grouped 6-8-4;
15-digit and mistyped 18-digit numbers only right after 身份证/ID card), IPv4
and IPv6 addresses (compressed and IPv4-mapped forms; not loopback ``::1`` nor
slice-like ``0::2``), and bank-card numbers (Luhn check, 16-19
digits or 15-digit Amex, bare or grouped with spaces/dashes). Each finding
becomes ``<EMAIL>``, ``<PHONE>``, ``<ID_CARD>``, ``<IP>`` or ``<BANK_CARD>``.

Precision matters as much as recall: a digit run is only PII when its shape,
its checksum and its surroundings fit. Digits glued to a letter or digit, or to
a code through a hyphen (``ABC-138-1234-5678``), are part of something else; a
dotted quad after "version"/版本 is a version; a Luhn-valid number after
订单号/"order no." is an order number. When two findings overlap, the type
listed first in ``DETECTORS`` wins (an ID number contains a phone look-alike).

Matching runs on a copy of the text with full-width ASCII folded to ASCII
(one character for one, so offsets stay valid), so ``（020）``, ``＠`` and
full-width digits need no patterns of their own.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic/no-break spaces, one character each.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x00A0: 0x20}

# A digit run is not PII when it is glued to an ASCII letter/digit, or to one through - or _ (a product code).
# _NB1 checks the left side from just after a pattern's first character (see DETECTORS); _NA the right side.
_NB1 = r"(?<![0-9A-Za-z].)(?<![0-9A-Za-z][-_].)"
_NA = r"(?![0-9A-Za-z])(?![-_][0-9A-Za-z])"

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# First two digits of a mainland ID: the province-level division (GB/T 2260).
ID_PROVINCES = frozenset("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
                         "61 62 63 64 65 71 81 82".split())


def resident_id_valid(s: str) -> bool:
    """GB 11643-1999: 17 digits weighted mod 11 give the check character."""
    if len(s) != 18 or not s[:17].isdigit():
        return False
    return ID_CHECK[sum(int(d) * w for d, w in zip(s[:17], ID_WEIGHTS)) % 11] == s[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _id_card(match: str) -> bool:
    digits = match.replace(" ", "").replace("-", "")
    return digits[:2] in ID_PROVINCES and resident_id_valid(digits)


_ID_SHAPE = re.compile(r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")


def _id_shaped(s: str) -> bool:
    return s[:2] in ID_PROVINCES and _ID_SHAPE.fullmatch(s) is not None


def _bank_card(match: str) -> bool:
    digits = re.sub(r"[ -]", "", match)
    if len(digits) == 15:  # American Express
        return digits[:2] in ("34", "37") and luhn_valid(digits)
    if len(digits) == 18 and _id_shaped(digits):
        return False  # a mistyped ID number (or a code built like one), not a card
    # Visa 4, Mastercard 2/5, UnionPay 62, Amex/JCB/Diners 3, Discover 6.
    return 16 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _ipv6(match: str) -> bool:
    # A hex-only word pair like dead::beef is code more often than an address.
    if match.count(":") < 2 or not re.search(r"\d", match):
        return False
    try:
        ipaddress.IPv6Address(match)
    except ValueError:
        return False
    if "::" in match:
        # 0::2 and 1::2 are array slices (x[:, 0::2]); ::1 is loopback, nobody's address. A compressed
        # address worth redacting has a group of 3+ hex digits, an embedded IPv4 or 3+ groups.
        groups = [g for g in match.split(":") if g]
        return "." in match or len(groups) >= 3 or any(len(g) >= 3 for g in groups)
    return match.count(":") == 7 or (match.count(":") == 6 and "." in match)


def _ipv4(match: str) -> bool:
    """Four decimal octets without leading zeros (01.2.3.4 is not written by anyone meaning an address)."""
    return all(p == "0" or (p[0] != "0" and int(p) <= 255) for p in match.split("."))


def _digit_count(low: int, high: int) -> Callable[[str], bool]:
    return lambda s: low <= sum(c.isdigit() for c in s) <= high


def _not_after(words: str, window: int = 30) -> Callable[[str, int], bool]:
    """Context check: no ``words`` ending right before the match (only non-alphanumerics in between)."""
    pattern = re.compile(rf"(?<![A-Za-z])(?:{words})[^0-9A-Za-z\n]{{0,4}}$", re.IGNORECASE)
    return lambda text, start: not pattern.search(text, max(0, start - window), start)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_AREA = r"0(?:10|2\d|[3-9]\d{2})"  # Beijing 010, 02x cities, else 0 + three digits
_EXTENSION = r"(?: ?(?:-|转|分机|ext\.?|x|#) ?\d{1,5})?"
# Second-level Chinese internationalised TLDs seen in addresses (IANA root zone).
_IDN_TLDS = ("中国|中國|公司|网络|網絡|在线|网址|网店|网站|集团|商城|商店|中文网|我爱你|信息|移动|手机|游戏|企业|娱乐|"
             "商标|广东|佛山|政务|公益|时尚|微博|购物|招聘|香港|台湾|台灣|澳門|新加坡|联通")
# Also product tokens (Chrome/120.0.0.0 in user agents, Android 4.4.2.1, pkg==1.2.3.4).
_VERSION_WORDS = (r"version|ver\.?|v|release|build|firmware|kernel|rev(?:ision)?|section|sec\.|§|clause|chapter|"
                  r"step|chrome|firefox|safari|opera|android|ios|windows(?: nt)?|linux|python|java|"
                  r"[A-Za-z][A-Za-z0-9_-]*/|[A-Za-z][A-Za-z0-9_.-]*==|版本号?|固件|内核|更新至|升级至?|第|章节?|条款?|规范")
_ORDER_WORDS = (r"订单号?|单号|运单号?|快递单?号?|流水号|编号|交易号|工单号?|序列号|批次号?|"
                r"order(?:\s*(?:no\.?|number|id|#))?|tracking(?:\s*(?:no\.?|number|#))?|invoice(?:\s*(?:no\.?|#))?|"
                r"serial(?:\s*(?:no\.?|number|#))?|s/?n|transaction(?:\s*id)?|ref(?:erence)?(?:\s*(?:no\.?|#))?")
_ID_WORDS = (r"身份证(?:号码?)?|公民身份号码|身份号码|证件号码?|居民身份证|"
             r"(?:identity|ID)[ -]?card(?:\s*(?:number|no\.?|#))?|(?:resident|citizen|national|PRC|Chinese)\s+ID"
             r"(?:\s*(?:number|no\.?|#))?")
_PHONE_WORDS = r"电话|座机|固话|传真|热线|(?<![A-Za-z])(?:tel\.?|phone|fax)"
# What may stand between such a keyword and its number: 号码为：, " (", "#", a colon; not free text
# (电话会议时间2019-2020 is a date range).
_LINK = r"(?:号码|号)?(?:为|是)?[ \t:()\[\]【】「」#/,，、.]{0,4}"


@dataclass(frozen=True)
class Detector:
    type: str  # placeholder name: <TYPE>
    pattern: re.Pattern
    valid: Callable[[str], bool] = lambda s: True
    context: Callable[[str, int], bool] = lambda text, start: True  # (folded text, match start) -> keep?
    group: str | int = 0  # the part of the match that is the personal data
    # Cheap test on the folded text that must pass for the pattern to be worth running at all.
    worth_trying: Callable[[str], bool] = lambda text: True


def _contains(*needles: str) -> Callable[[str], bool]:
    return lambda text: any(n in text for n in needles)


def _mentions(words: str) -> Callable[[str], bool]:
    return re.compile(words, re.IGNORECASE).search


# Patterns open with a literal character or class where they can: Python's re then skips ahead to
# candidates instead of trying every position (BENCHMARKS.md, PII detectors). The boundary checks sit right
# after that first character, so they look one character further back.

DETECTORS: tuple[Detector, ...] = (
    Detector("EMAIL", re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_][A-Za-z0-9._%+-]*@(?:(?:[^\W_]|-)+\.)+"
        rf"(?:[A-Za-z]{{2,24}}(?![A-Za-z0-9-])|xn--[A-Za-z0-9-]+|{_IDN_TLDS})"), worth_trying=_contains("@")),
    # Written whole or grouped 6-8-4 (area, birth date, sequence and check).
    Detector("ID_CARD", re.compile(r"\d" + _NB1 + r"\d{5}([ -]?)(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\1"
                                   r"\d{3}[\dXx]" + _NA), _id_card),
    # After 身份证/ID card the number is an ID number even when mistyped, and the 15-digit pre-1999 form is trusted.
    Detector("ID_CARD", re.compile(rf"(?:{_ID_WORDS}){_LINK}(?P<pii>\d{{17}}[\dXx]|\d{{15}})" + _NA,
                                   re.IGNORECASE), group="pii", worth_trying=_mentions(_ID_WORDS)),
    Detector("BANK_CARD", re.compile(r"\d" + _NB1 + r"(?:\d{3}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?:[ -]?\d{1,3})?|"
                                     r"\d{3}[ -]\d{6}[ -]\d{5}|"
                                     r"\d{14,18})" + _NA), _bank_card, _not_after(_ORDER_WORDS)),
    # A colon may only open the address as "::" (网关：::ffff:… folds to 网关:::ffff:…; the first colon is punctuation).
    Detector("IP", re.compile(rf"(?<![0-9A-Za-z_.])(?<![0-9A-Fa-f]:)(?!:[^:]|:::)(?:(?:[0-9A-Fa-f]{{0,4}}:){{2,6}}{_IPV4}|"
                              r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?![0-9A-Za-z_:])"), _ipv6,
             worth_trying=lambda text: "::" in text or text.count(":") >= 6),
    # Not joined by a hyphen to a short number (the dental formula 1-3.1.4.2-3); a range of two
    # addresses (10.0.0.1-10.0.0.9) is still two addresses.
    Detector("IP", re.compile(r"\d(?<![0-9A-Za-z_.]\d)(?<!(?<![\d.])\d-\d)\d{0,2}(?:\.\d{1,3}){3}"
                              r"(?![0-9A-Za-z_]|\.\d|-\d{1,3}(?![\d.]))"), _ipv4,
             context=_not_after(_VERSION_WORDS)),
    # International: + and a country code (also in brackets), then digit groups.
    Detector("PHONE", re.compile(r"(?<![0-9A-Za-z_+])(?:\(\+\d{1,3}\)|\+\d{1,3})(?:[ .-]?\(?\d{1,4}\)?){2,5}" + _NA),
             _digit_count(8, 15), worth_trying=_contains("+")),
    # Mainland mobile after 86/0086/(86) (+86 is international, above): the prefix belongs to the number.
    Detector("PHONE", re.compile(r"(?:(?<![0-9A-Za-z])(?<![0-9A-Za-z][-_])(?:0086|86)[ -]?|\(86\) ?)"
                                 r"1[3-9]\d(?:[ -]?\d{4}){2}" + _NA),
             worth_trying=_contains("86")),
    # Mainland mobile: 1[3-9] and 9 more digits, optionally grouped 3-4-4.
    Detector("PHONE", re.compile(r"1" + _NB1 + r"[3-9]\d(?:[ -]?\d{4}){2}" + _NA)),
    # Mainland landline: area code in brackets or before a separator, 7-8 digit number, optional extension.
    Detector("PHONE", re.compile(rf"\((?<![0-9A-Za-z]\(){_AREA}\) ?[1-9]\d{{2,3}}[ -]?\d{{4}}{_EXTENSION}" + _NA),
             worth_trying=_contains("(")),
    # After a space, an area code must not continue a space-grouped digit run (6675 0965 4364 8281).
    Detector("PHONE", re.compile(rf"0{_NB1}(?:{_AREA[1:]}-|(?<!\d .){_AREA[1:]} )[1-9]\d{{2,3}}[ -]?\d{{4}}{_EXTENSION}"
                                 + _NA)),
    # Service numbers 400/800 + 7 digits (10 in all), grouped 3-3-4 or 3-4-3 or bare.
    Detector("PHONE", re.compile(r"[48]" + _NB1 + r"00[ -]?\d{3,4}[ -]?\d{3,4}" + _NA), _digit_count(10, 10)),
    # A local number without area code is only a phone number right after 电话/Tel.
    Detector("PHONE", re.compile(rf"(?:{_PHONE_WORDS}){_LINK}(?P<pii>[2-9]\d{{2,3}}[ -]?\d{{4}}{_EXTENSION})"
                                 + _NA, re.IGNORECASE), group="pii", worth_trying=_mentions(_PHONE_WORDS)),
)
TYPES = ("EMAIL", "PHONE", "ID_CARD", "IP", "BANK_CARD")


def find_pii(text: str, types=TYPES) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, type) findings, earlier detectors winning overlaps."""
    folded = text.translate(_FOLD)
    # Findings never overlap, so sorted by start they are sorted by end too: one bisect finds a clash
    # (a page listing thousands of numbers must not cost a quadratic scan).
    starts: list[int] = []
    taken: list[tuple[int, int, str]] = []
    for det in DETECTORS:
        if det.type not in types or not det.worth_trying(folded):
            continue
        for m in det.pattern.finditer(folded):
            start, end = m.span(det.group)
            i = bisect.bisect_left(starts, end)  # findings [0, i) start before this one ends
            if i and taken[i - 1][1] > start:
                continue
            if det.valid(m.group(det.group)) and det.context(folded, m.start()):
                starts.insert(i, start)
                taken.insert(i, (start, end, det.type))
    return taken


def redact(text: str, types=TYPES) -> tuple[str, Counter]:
    """``text`` with every finding replaced by ``<TYPE>``, and the count per type."""
    findings = find_pii(text, types)
    counts: Counter = Counter(t for _, _, t in findings)
    if not findings:
        return text, counts
    out, last = [], 0
    for start, end, typ in findings:
        out.append(text[last:start])
        out.append(f"<{typ}>")
        last = end
    out.append(text[last:])
    return "".join(out), counts


@dataclass
class PiiParams:
    # Which kinds of personal data to replace (any of EMAIL, PHONE, ID_CARD, IP, BANK_CARD).
    types: list[str] = field(default_factory=lambda: list(TYPES))


class PiiStage(Stage):
    """Rewrites ``text`` in place and adds ``pii_replacements`` (findings in this document)."""

    name: ClassVar[str] = "pii"
    Params: ClassVar[type] = PiiParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        unknown = sorted(set(self.params.types) - set(TYPES))
        if unknown:
            raise ValueError(f"pii: unknown type(s) {unknown}; valid: {list(TYPES)}")

    def process(self, batch: pa.Table) -> pa.Table:
        texts, per_doc = [], []
        for text in batch[D.TEXT].to_pylist():
            new, counts = redact(text or "", self.params.types) if text else (text, Counter())
            texts.append(new)
            per_doc.append(sum(counts.values()))
            for kind, k in counts.items():
                self.count("pii_replacements", kind, n=k)
        batch = D.set_column(batch, D.TEXT, pa.array(texts, pa.string()))
        return D.set_column(batch, "pii_replacements", pa.array(np.asarray(per_doc, dtype=np.int32)))

    def counters(self) -> dict:
        """Replacements per type."""
        return {"pii_replacements": {t: 0 for t in self.params.types}}
