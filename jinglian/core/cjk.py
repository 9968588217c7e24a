"""Han ideographs and the other CJK scripts, defined once for every stage.

Han: Extension A (U+3400-4DBF), the Unified Ideographs (U+4E00-9FFF), the Compatibility
Ideographs (U+F900-FAFF) and the whole Supplementary and Tertiary Ideographic Planes
(U+20000-3FFFF: Extensions B to J and the compatibility supplement). Unicode allocates those
two planes to ideographs only, so the span also holds the extensions Unicode adds later
(H, U+31350-323AF, came in 15.0; J in 17.0), which an end at U+3134F would miss. Radicals,
strokes and the Yijing hexagram symbols (U+4DC0-4DFF) are not ideographs and are left out.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

HAN_SPANS: tuple[Span, ...] = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
KANA_SPANS: tuple[Span, ...] = ((0x3040, 0x30FF), (0x31F0, 0x31FF))  # Hiragana, Katakana, phonetic extensions
HANGUL_SPANS: tuple[Span, ...] = ((0xAC00, 0xD7AF),)  # syllables


def char_class(spans) -> str:
    """The body of a regex character class (``[...]`` without the brackets) matching ``spans``."""
    return "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in spans)


HAN = char_class(HAN_SPANS)
HAN_RE = re.compile(f"[{HAN}]")
_SPACE_RE = re.compile(r"\s")


def han_count(text: str) -> int:
    return len(HAN_RE.findall(text))


def han_ratio(text: str) -> float:
    """Han characters among non-whitespace characters."""
    chars = len(text) - len(_SPACE_RE.findall(text))
    return han_count(text) / chars if chars else 0.0
