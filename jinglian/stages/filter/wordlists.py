"""Word lists the rule sets share: stop words and spam/adult terms.

The stop words are the published ones (Gopher's eight English words; FineWeb-2's
``cmn_Hani`` list). The bad-word lists are our own short lists of terms that
mark gambling/adult SEO spam on the Chinese web and adult spam in English: a
page that uses them at all (C4) or densely (``chinese``) is spam, while a news
report that mentions gambling once is not. Extend them in a job with the
``bad_words`` threshold of the rule set.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Rae et al. 2021 (Gopher), appendix A: a document must contain two of these (two different ones: "the the" is
# one stop word; rules count them with TextStats.distinct_units).
ENGLISH_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

# FineWeb-2 configs/cmn_Hani.yml `stopwords` (single characters, Simplified and Traditional).
CHINESE_STOP_WORDS = (
    "的", "年", "在", "月", "是", "和", "日", "了", "於", "·", "為",
    "有", "被", "人", "中", "为", "他", "與", "後", "也", "而", "由",
)

CHINESE_BAD_WORDS = (
    "现金网", "娱乐城", "博彩", "菠菜网", "百家乐", "老虎机", "六合彩", "时时彩", "北京赛车pk10",
    "真人视讯", "真人荷官", "彩票网", "体育投注", "网上赌场", "在线赌场", "赌场网址", "威尼斯人",
    "葡京", "金沙娱乐", "太阳城娱乐", "澳门赌场", "开户送", "注册送彩金", "首存送", "彩金",
    "色情网站", "色情视频", "黄色网站", "成人网站", "成人视频", "av女优", "一夜情", "约炮", "裸聊", "援交",
    "代孕", "办证", "代开发票", "发票代开", "私服", "外挂出售",
)

ENGLISH_BAD_WORDS = (
    "porn", "porno", "xxx", "hentai", "nude", "nudes", "escort", "camgirl", "viagra", "cialis",
    "online casino", "casino bonus", "sex chat", "milf", "blowjob", "cumshot",
)


@lru_cache(maxsize=64)
def _term_pattern(terms: tuple[str, ...], word_boundaries: bool) -> re.Pattern:
    alternatives = "|".join(re.escape(t.lower()) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b" if word_boundaries else f"(?:{alternatives})")


def count_terms(text: str, terms, word_boundaries: bool = False) -> int:
    """Occurrences of any of ``terms`` in ``text`` (case-insensitive)."""
    terms = tuple(terms)
    lower = text.lower()
    # Substring tests run in C; the (slower) alternation regex only runs on the rare text with a hit.
    if not any(t.lower() in lower for t in terms):
        return 0
    return len(_term_pattern(terms, word_boundaries).findall(lower))


def distinct_terms(text: str, terms, word_boundaries: bool = False) -> int:
    """How many different ``terms`` occur in ``text`` (case-insensitive; matched as :func:`count_terms` matches
    them, longest first, so "注册送彩金" is one term, not also "彩金")."""
    return len(set(_term_pattern(tuple(terms), word_boundaries).findall(text.lower())))
