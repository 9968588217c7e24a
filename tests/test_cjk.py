"""Every stage counts the same characters as Han (core/cjk.py), the later extensions included."""

import pytest

from jinglian.core.cjk import HAN_RE, han_ratio
from jinglian.stages.filter.text_stats import TextStats
from jinglian.stages.langid.stage import cjk_ratio
from jinglian.tokenizers import corpus

HAN = ["中", "\u3400", "\uf900", "\U00020000", "\U0002a700", "\U00030000", "\U00031350", "\U000323af"]  # ... Ext G, Ext H
NOT_HAN = ["a", "か", "한", "\u4dc0", "\u2e80", "。"]  # Latin, kana, Hangul, a hexagram symbol, a radical, punctuation


@pytest.mark.parametrize("ch", HAN)
def test_han_everywhere(ch):
    text = ch * 3 + " x"
    assert HAN_RE.fullmatch(ch) and corpus.is_han(ch)
    assert TextStats(text).han_count == 3
    assert cjk_ratio(text) == han_ratio(text) == TextStats(text).han_ratio == 0.75


@pytest.mark.parametrize("ch", NOT_HAN)
def test_not_han_anywhere(ch):
    assert not HAN_RE.fullmatch(ch) and not corpus.is_han(ch)
    assert TextStats(ch * 3).han_count == 0 and cjk_ratio(ch * 3) == 0.0
