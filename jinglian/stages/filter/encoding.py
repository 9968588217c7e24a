"""Encoding damage: text garbled by decoding its bytes with the wrong codec.

Signals, each a trace that one mis-decoding leaves and clean text does not:

- U+FFFD replacement characters (undecodable bytes), private-use characters;
- half-width katakana inside Chinese (Shift-JIS/GBK confusions);
- UTF-8 read as Latin-1/cp1252: ``ä¸­æ–‡`` (a lead byte E4-E9 as ``ä``..``é`` and two
  continuation bytes), counted per garbled character;
- GBK shifted by one byte (a line break lost in transcoding, the zh-junk SogouCA
  news): a ``?`` followed by a full-width form (``?；泼``, ``?Ｋ孀``), or a ``?``
  between Han characters with a rare character within six characters of it;
- whole lines of rare characters (GBK read as Big5 or the reverse): the share of
  Han characters outside the common set.

"Common" is computed from the codecs, not shipped as data: GB2312 level 1 (the
3,755 most frequent simplified characters, rows 16-55) and Big5's frequent
characters (5,401, A440-C67E). On zh-genres-clean every genre's 95th percentile
of rare-character share is at most 0.031 (recipes), zh-wiki's 99th 0.050;
misaligned GBK produces about one rare character in three.

The ``encoding`` rule set judges every document (a Latin-1-garbled Chinese page
has no Han characters left to route it by). It rejects when damage is
widespread; ``clean_lines`` cuts damaged lines when it is local.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from jinglian.core.cjk import HAN_SPANS
from jinglian.stages.filter.rules import RuleSet, Verdict, at_most
from jinglian.stages.filter.text_stats import HAN_RANGES, TextStats

HAN_RE = re.compile(f"[{HAN_RANGES}]")
# Replacement characters; runs of private-use characters (a lone one is usually a glyph the source font lacked,
# as in old typeset essays); runs of half-width katakana (two in a row are kaomoji: (｡･∀･)ﾉﾞ).
HARD_DAMAGE_RE = re.compile("\ufffd|[\ue000-\uf8ff]{2,}|[\uff61-\uff9f]{3,}")
# Any character the alternation above can start with: one search with a leading character class scans at C speed,
# the alternation tries every branch at every position (most texts have none of these characters).
HARD_DAMAGE_CHARS_RE = re.compile("[\ufffd\ue000-\uf8ff\uff61-\uff9f]")
# UTF-8 of a CJK character (lead byte E4-E9) read as cp1252/Latin-1: three characters per original one.
CP1252_CONTINUATION = ("\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
                       "\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122")
LATIN1_MOJIBAKE_RE = re.compile(f"[\u00e4-\u00e9][{CP1252_CONTINUATION}]{{2}}")
# ASCII "?" only (a Chinese question mark is "？"); not before the punctuation that follows a real question.
QUESTION_FULLWIDTH_RE = re.compile("\\?[\uff02-\uff07\uff0a\uff0b\uff0d-\uff1e\uff20-\uff5e]")
# The "?" first and the Han character before it as a look-behind: a pattern that starts with a literal is
# searched for that literal; one that starts with a look-behind is tried at every position.
QUESTION_IN_HAN_RE = re.compile(f"\\?(?<=[{HAN_RANGES}]\\?)(?=[{HAN_RANGES}])")
SITE_WINDOW = 6


@lru_cache(maxsize=1)
def common_han() -> frozenset[str]:
    """GB2312 level 1 and Big5 frequent characters, decoded from the codecs' byte ranges."""
    chars = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    for hi in range(0xA4, 0xC7):
        for lo in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if (hi, lo) > (0xC6, 0x7E):
                break
            try:
                chars.add(bytes((hi, lo)).decode("big5"))
            except UnicodeDecodeError:
                pass
    return frozenset(c for c in chars if HAN_RE.fullmatch(c))


@lru_cache(maxsize=1)
def _rare_re() -> re.Pattern:
    """One character class of every Han character outside the common set (one C-speed pass per text)."""
    common = sorted(ord(c) for c in common_han())
    ranges = []
    for lo, hi in HAN_SPANS:
        start = lo
        for cp in (c for c in common if lo <= c <= hi):
            if cp > start:
                ranges.append((start, cp - 1))
            start = cp + 1
        if start <= hi:
            ranges.append((start, hi))
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" if a < b else chr(a) for a, b in ranges) + "]")


def rare_han(text: str) -> int:
    """Han characters outside the common set."""
    return len(_rare_re().findall(text))


def damage_sites(text: str) -> int:
    """Places where a wrong decoding left a trace (one per garbled character or lost-byte site)."""
    if text.isascii():  # every trace holds a non-ASCII character; most English text is ASCII (one C-speed pass)
        return 0
    n = len(LATIN1_MOJIBAKE_RE.findall(text))
    if HARD_DAMAGE_CHARS_RE.search(text):
        n += sum(map(len, HARD_DAMAGE_RE.findall(text)))
    if "?" in text:
        n += len(QUESTION_FULLWIDTH_RE.findall(text))
        for m in QUESTION_IN_HAN_RE.finditer(text):
            if rare_han(text[max(0, m.start() - SITE_WINDOW): m.end() + SITE_WINDOW]):
                n += 1
    return n


@dataclass(frozen=True)
class LineLimits:
    # Calibrated on zh-genres-clean: lines of clean prose carry at most 2 sites (a doubled private-use glyph
    # as an indent), garbled lines 3 and more.
    min_sites: int = 3
    rare_share: float = 0.3  # misaligned GBK: ~1/3 rare; clean genres' document maximum is 0.084 (recipes)
    min_han_for_share: int = 20  # "嘤嘤嘤…" is one rare character three times, not damage


def damaged_lines(lines: list[str], limits: LineLimits = LineLimits()) -> set[int]:
    """Indices of lines that are garbled (see the module docstring for the signals)."""
    out = set()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if damage_sites(line) >= limits.min_sites:
            out.add(i)
            continue
        han = len(HAN_RE.findall(line))
        if han >= limits.min_han_for_share and rare_han(line) / han >= limits.rare_share:
            out.add(i)
    return out


@dataclass(frozen=True)
class Thresholds:
    # Widespread damage: at least ``min_damage_sites`` sites and more than ``max_sites_per_1k`` per 1,000
    # characters. Calibrated on the shared halves: mis-decoded SogouCA news (zh-junk) 3-58 sites, 4.2-57 per 1k;
    # clean genres, zh-laws and zh-wiki: documents with 2 or more sites have at most 0.9 per 1k (long essays with
    # runs of private-use glyphs).
    min_damage_sites: int = 3
    max_sites_per_1k: float = 3.0
    # Whole-document mis-decoding (GBK read as Big5 and the reverse): share of rare Han characters. Clean genres'
    # maximum is 0.084 (recipes), zh-wiki's 0.102 (Traditional names); garbled text ~0.3 and more.
    max_rare_han_share: float = 0.2
    min_han_for_share: int = 50  # a short text with two rare names is not garbled


def damage(s: TextStats, t: Thresholds) -> Verdict:
    n = damage_sites(s.text)
    per_1k = 1000 * n / max(1, s.char_count) if n else 0.0
    return Verdict(n < t.min_damage_sites or per_1k <= t.max_sites_per_1k, "damage_sites_per_1k", per_1k)


def rare_share(s: TextStats, t: Thresholds) -> Verdict:
    if s.han_count < t.min_han_for_share:
        return Verdict(True, "rare_han_share", 0.0)
    return at_most("rare_han_share", rare_han(s.text) / s.han_count, t.max_rare_han_share)


RULESET = RuleSet(name="encoding", thresholds=Thresholds, rules=(damage, rare_share), applies_to="all")
