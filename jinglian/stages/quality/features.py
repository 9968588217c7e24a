"""fastText input for Chinese and English text.

fastText splits on whitespace, so unsegmented Chinese would reach it as one
token per sentence. We put a space between every CJK character and let
fastText's word bigrams (``wordNgrams=2``) form the character bigrams, the unit
most Chinese word-level signal lives in; this needs no segmenter (jieba's
dictionary and speed would be a dependency and a bottleneck) and bigrams of
characters recover most two-character words. Latin words stay whole (word
bigrams cover English phrases; fastText's subword n-grams are off by default
in :class:`~jinglian.stages.quality.model.TrainConfig` because they cost
scoring speed for no measured gain here). Digit runs collapse to ``0`` (a number's value says nothing about
quality, its presence does), punctuation and symbol characters stay tokens (their pattern
separates prose from lists and spam), and line breaks become ``NL`` so page
structure (menus, lists of short lines) is visible. Only the first
``max_chars`` characters are used: quality is evident early, and scoring stays
fast on long documents.

The classifier reads the text the filter judges (:func:`~jinglian.stages.filter.text_stats.prose`):
Markdown table rows keep only their cells of sentence length, and fenced code
blocks go. A table-layout page (an old news or blog site puts its calendar,
menus and article in table cells) would otherwise spend the first ``max_chars``
on ``| 日 | 一 | 二 |`` rows and be scored on its furniture, not its article.
"""

from __future__ import annotations

import re
import unicodedata

from jinglian.stages.filter.text_stats import CJK_RANGES, prose

MAX_CHARS = 1000
# prose() runs on this many times max_chars: enough for the prose after a page's leading furniture rows, and
# bounded, so a long document costs no more than a short one.
PROSE_WINDOW = 8
_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)*")


def _spacing_table() -> dict[int, str]:
    """str.translate table (one C-level pass): CJK characters and punctuation get spaces around them."""
    cjk = re.compile(f"[{CJK_RANGES}]")
    table = {cp: f" {chr(cp)} " for cp in range(0x10000)
             if cjk.match(chr(cp)) or unicodedata.category(chr(cp))[0] in "PS"}
    table[ord("\n")] = " NL "
    return table


_SPACING = _spacing_table()


def features(text: str, max_chars: int = MAX_CHARS) -> str:
    text = prose(text[: PROSE_WINDOW * max_chars])
    # Runs of spaces are fine: fastText splits on any whitespace run.
    return _DIGITS_RE.sub(" 0 ", text[:max_chars].lower()).translate(_SPACING).replace("\r", " ")
