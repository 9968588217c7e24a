"""Rules for Chinese documents: statistics over characters, thresholds that keep clean Chinese.

English-tuned rules erase clean Chinese (a whole sentence is one whitespace
"word"; on characters, Gopher's n-gram limits flag ordinary legal prose). This
set takes its rules from the Chinese pipelines and its thresholds from:

- FineWeb-2 ``configs/cmn_Hani.yml`` (Penedo et al. 2025): duplicate-line
  fraction, top n-gram fractions, stop words. FineWeb-2 counts n-grams over
  segmented words; we apply its top n-gram limits to characters, where they are
  stricter, and they still keep >99% of zh-wiki and laws (measured);
- Gopher (Rae et al. 2021): duplicate paragraphs, "#" and ellipsis rules;
- ChineseWebText / EvalWeb (Chen et al. 2023) and MAP-CC / CT-LLM (Du et al.
  2024): minimum length, Chinese-character ratio, bad-word density, and the
  web-page signals (lines ending in 展开/更多/阅读全文, 【】 title lines,
  punctuation, digit ratio, unique characters); pinyin glosses (烟(yan)台) are
  an SEO trick we saw in ChineseWebText's dirty sample, and repeated lines of
  bare numbers ("29 ]", "29 14:17") the page furniture of badly extracted pages.

Where a value was chosen here rather than taken from a paper, the comment
says "calibrated" and names the measurement: zh-wiki-mrc paragraphs, 3,476
zh-laws documents, and the least favourable of the 13 genres of
zh-genres-clean (documents of >= 200 characters; BENCHMARKS.md "Genres").
Line rules judge only documents with at least ``min_lines_for_line_rules``
lines: a one-paragraph encyclopedia entry has no line structure to judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jinglian.stages.filter import gopher_repetition as rep
from jinglian.stages.filter.rules import RuleSet, Verdict, at_least, at_most
from jinglian.stages.filter.text_stats import EMOTICON_RE, HAN_RANGES, TERMINAL_PUNCTUATION, TextStats
from jinglian.stages.filter.wordlists import CHINESE_BAD_WORDS, CHINESE_STOP_WORDS, count_terms, distinct_terms

TRUNCATION = ("...", "…")
MIN_PROSE_LINES = 3
# A 【】 title line of a listing page; calibrated: the dirty ChineseWebText titles have 9-30 characters; the 【 lines of
# zh-genres-clean longer than 40 (86 of 113: Weibo posts and threads, news) open a paragraph with its topic or source.
MAX_TITLE_CHARS = 40
# Informal sentence ends of social-media Chinese: a tilde ("好有爱~"), an emoticon code ("太辛苦了[泪]").
INFORMAL_ENDINGS = ("~", "～")
# Truncation/navigation tails of listing pages ("… 阅读全文", "查看更多"), after trailing arrows are stripped.
READ_MORE_ENDINGS = ("展开", "展开全文", "更多", "查看更多", "阅读全文", "查看全文", "阅读更多", "点击查看", "查看详情",
                     "下一页", "上一页", "返回顶部", "收起", "read more")
ARROWS = " >》»→"
# A full stop inside a line ("。", or "." typed after a Han character): the line holds a finished sentence, whatever
# its last words are (a credit "新华社发", a sign-off "仅供参考", a forum signature).
INNER_FULL_STOP_RE = re.compile(f"。.|(?<=[{HAN_RANGES}])\\.(?=[^\\d.])")
# A line of digits, punctuation, symbols and spaces only: page numbers, counters, cut-off timestamps ("29 14:17"),
# a stray "29 ]" -- page furniture the extractor left in. Lines with "=", "$" or a backslash are formulas.
NUMERIC_LINE_RE = re.compile(r"[\d\W_]*\d[\d\W_]*")
FORMULA_MARKS = ("=", "$", "\\")
SENTENCE_MARKS = ("。", "！", "？", "…", "”", "」")
# A list number on a line of its own ("1、", "6.", "(3)", "１") numbers the next line: a recipe step, an essay's part.
LIST_NUMBER_RE = re.compile(r"[(（〔\[]?[\d０-９]{1,3}[)）〕\].、．]?")
# A list item: a bullet or a number before the text ("1. 鸡蛋洗净", "② 加盐", "- 面粉 200克").
LIST_ITEM_RE = re.compile(r"^([-*•·●○■□▪◆◇★☆►▶]|[(（〔\[]?[\d０-９一二三四五六七八九十]{1,3}[)）〕\].、．:：]|[①-⑳])")
# A field of a record: a short label, a colon and its value ("地点：南开大学", "游客咨询电话：58792888", "时长：01:45").
FIELD_LINE_RE = re.compile(r"[^\s:：，,。！？!?]{1,6}[:：]")
# SEO pages interleave pinyin with the characters to dodge duplicate detection: 烟(yan)台市(shi).
PINYIN_RE = re.compile(f"[{HAN_RANGES}][(（][a-z]{{1,6}}[)）]")


@dataclass(frozen=True)
class Thresholds:
    # A policy (ChineseWebText drops short texts): 100 keeps its own 138-character "clean" sample; short reviews
    # and Weibo posts fall under it (BENCHMARKS.md "Genres" reports documents < 200 characters apart).
    min_chars: int = 100
    max_chars: int = 1_000_000  # a guard against concatenated dumps (no paper value)
    # ChineseWebText/MAP-CC: Chinese-character ratio; calibrated: 1st percentile of zh-wiki 0.48, lowest document of
    # any clean genre 0.52 (a technical article with code names).
    min_han_ratio: float = 0.4
    # MAP-CC: text without punctuation is keyword lists; calibrated: zh-wiki min 0.045, laws min 0.055, every clean
    # genre's minimum >= 0.054 (hotel reviews, news) except product reviews: two "reviews" that repeat 很好 with no
    # punctuation at all (0.0), and a real complaint that separates its clauses by spaces (0.0204, kept).
    min_punct_ratio: float = 0.02
    # MAP-CC: digit ratio; calibrated: zh-wiki max 0.30 (dates, statistics), clean genres max 0.20 (news).
    max_digit_ratio: float = 0.35
    # Line rules need this many lines (calibrated: judging one-line paragraphs by lines is meaningless).
    min_lines_for_line_rules: int = 5
    # FineWeb-2 cmn_Hani line_punct_thr (0.106), counted over prose lines: lines after the title and Markdown
    # headings, list items, field lines ("地点：…") and lines of at most short_line_chars aside (ingredient lists,
    # one-word comments, subheadings, an agenda's or a listing's fields end without punctuation in every genre).
    # Measured per genre in BENCHMARKS.md "Genres".
    min_terminal_line_frac: float = 0.106
    # A short line: FineWeb's 30 Latin characters ~ 10 Chinese characters.
    short_line_chars: int = 10
    # Share of short lines: off by default (None), as in FineWeb-2 for cmn_Hani (short_line_thr=999): it rejected
    # 63% of zh-genres-clean recipes (ingredient lists) and 55% of Weibo comment threads. A job may set e.g. 0.5.
    max_short_line_frac: float | None = None
    # MAP-CC: 【…】 title lines, as a share of the characters of all lines (a listing page is made of them);
    # calibrated: every clean genre's maximum is 0.04 (Weibo threads; news 0.02).
    max_bracket_lines: float = 0.3
    # MAP-CC/ChineseWebText: lines ending in a 展开/更多/阅读全文 link (calibrated share; 0 in every clean genre).
    max_read_more_lines: float = 0.1
    # Page furniture left by extraction: lines of digits and symbols only (NUMERIC_LINE_RE), list numbers on a
    # line of their own aside. Calibrated: such lines occur at most once in every zh-wiki paragraph, zh-laws
    # document, d2l chapter, clean ChineseWebText document and zh-genres-clean document; listing pages and badly
    # extracted articles repeat them.
    max_numeric_lines: int = 1
    max_hash_ratio: float = 0.1  # Gopher: "#" per character (a unit is a character here)
    # Gopher: lines ending with an ellipsis (here: a truncation mark, see the rule); clean genres max 0.12 (Weibo).
    max_ellipsis_lines: float = 0.3
    # calibrated: distinct/total over the first 1,000 characters; laws min 0.075, clean genres min 0.19 (Weibo
    # threads) apart from product "reviews" that paste one sentence ten times.
    min_unique_char_ratio: float = 0.1
    unique_char_window: int = 1000
    min_stop_words: int = 2  # FineWeb-2 cmn_Hani stop words, Gopher's count of 2 distinct ones
    # calibrated: stop-word characters per CJK character; zh-wiki min 0.028, laws min 0.045, clean genres min 0.024
    # (news) apart from "reviews" that are lists of names or repeat 很好; random Han ~0.006.
    min_stopword_ratio: float = 0.02
    # ChineseWebText: sensitive-word density; ours per 1,000 characters with our list (wordlists.py).
    max_bad_words_per_1k: float = 1.0
    # Distinct terms of the list a document must hold before its density is judged (as Gopher counts stop words
    # distinct). Spam mixes its trade's words (现金网 + 威尼斯人, 百家乐 + 开户送); a text about one subject repeats one:
    # zh-wiki paragraphs on the Venetians (威尼斯人 x5) or the Lisboa hotel (葡京 x2), a CLUECorpus news report on
    # surrogacy (代孕 x20), health news on an actress (AV女优 x6) were rejected at 2 occurrences. Measured on zh-wiki,
    # CLUECorpusSmall, the CCNet sample and every zh-genres-clean genre: the one spam document with list terms has 2.
    min_bad_words: int = 2
    bad_words: tuple = CHINESE_BAD_WORDS
    # calibrated: pinyin glosses per 1,000 characters (the SEO trick 烟(yan)台市(shi)); the dirty ChineseWebText
    # sample has 80; zh-wiki has at most 3 English glosses (篷(canopy)) in a paragraph.
    max_pinyin_glosses_per_1k: float = 10.0
    min_pinyin_glosses: int = 5
    # Repetition: FineWeb-2 cmn_Hani dup_line_frac; Gopher paragraph limits. Every repetition rule of this set is
    # measured on the author's own lines longer than short_line_chars: emoticons, quoted posts, topic tags and links
    # removed, and a single line that occurs twice counted once (see TextStats.without_short_lines).
    max_dup_line_frac: float = 0.287
    max_dup_para_frac: float = 0.30
    max_dup_line_char_frac: float = 0.20
    max_dup_para_char_frac: float = 0.20
    # FineWeb-2 cmn_Hani top_n_grams, applied to characters.
    top_ngrams: dict = field(default_factory=lambda: {2: 0.256, 3: 0.201, 4: 0.171})
    # Duplicated character n-grams. FineWeb-2's word 5..10-gram limits (0.198..0.127) reject half of the laws on
    # characters (their 5-gram median is 0.50). Calibrated: on every 4th law, character 10-grams 99th percentile
    # 0.61 (1.3% of laws above 0.60), 20-grams 99th percentile 0.37 (0.3% above 0.50); on zh-genres-clean (>= 200
    # characters) the largest values are 0.45 / 0.38 (recipes), news 0.43 / 0.35, Weibo threads 95th percentile
    # 0.43 / 0.35, apart from threads posting one comment many times and product "reviews" pasting one sentence.
    dup_ngrams: dict = field(default_factory=lambda: {10: 0.60, 20: 0.50})
    # N-gram limits are judged on texts of at least 10 n-grams' length (200 units for the 20-gram limit): below that
    # one repeated sentence decides the fraction (a photo caption printed under two photos covers half of a
    # 150-character news item's 20-grams). Laws, wiki paragraphs and every genre measured in BENCHMARKS.md "Genres".
    min_ngram_spans: int = 10


def min_chars(s: TextStats, t: Thresholds) -> Verdict:
    return at_least("min_chars", s.char_count, t.min_chars)


def max_chars(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("max_chars", s.char_count, t.max_chars)


def han_ratio(s: TextStats, t: Thresholds) -> Verdict:
    return at_least("han_ratio", s.han_ratio, t.min_han_ratio)


def punct_ratio(s: TextStats, t: Thresholds) -> Verdict:
    return at_least("punct_ratio", s.ratio(s.punct_count), t.min_punct_ratio)


def digit_ratio(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("digit_ratio", s.ratio(s.digit_count), t.max_digit_ratio)


def _line_rule(name: str, s: TextStats, t: Thresholds, predicate, limit: float, minimum: bool) -> Verdict:
    if len(s.lines) < t.min_lines_for_line_rules:
        return Verdict(True, name, 0.0)
    frac = s.line_fraction(predicate)
    return at_least(name, frac, limit) if minimum else at_most(name, frac, limit)


def terminal_lines(s: TextStats, t: Thresholds) -> Verdict:
    """Share of prose lines ending a sentence. Not prose: the first line and Markdown headings (Chinese titles
    never end with punctuation), list items, field lines of a record ("电话：…"), and short lines (an ingredient, a
    one-word comment, a subheading).
    A line with a full stop inside ends a sentence too: a paragraph may close with its credit ("……见面。新华社发"),
    a sign-off ("……短线操作仅供参考") or a forum signature; a title, a menu or a price list has no full stop at all."""
    body = [line for line in s.lines[1:] if not line.startswith("#") and len(line) > t.short_line_chars
            and not LIST_ITEM_RE.match(line) and not FIELD_LINE_RE.match(line)]
    # A share of one or two prose lines says nothing (a one-paragraph news item ending with its photo credit).
    if len(s.lines) < t.min_lines_for_line_rules or len(body) < MIN_PROSE_LINES:
        return Verdict(True, "terminal_line_frac", 0.0)
    frac = sum(1 for line in body if _ends_utterance(line)) / len(body)
    return at_least("terminal_line_frac", frac, t.min_terminal_line_frac)


def _ends_utterance(line: str) -> bool:
    if line.endswith(TERMINAL_PUNCTUATION) or line.endswith(INFORMAL_ENDINGS):
        return True
    if INNER_FULL_STOP_RE.search(line):
        return True
    return line.endswith("]") and EMOTICON_RE.search(line[-10:]) is not None


def short_lines(s: TextStats, t: Thresholds) -> Verdict:
    if t.max_short_line_frac is None:
        return Verdict(True, "short_line_frac", 0.0)
    return _line_rule("short_line_frac", s, t, lambda line: len(line) <= t.short_line_chars,
                      t.max_short_line_frac, minimum=False)


def _is_bracket_title(line: str) -> bool:
    return line.startswith("【") and len(line) <= MAX_TITLE_CHARS


def bracket_lines(s: TextStats, t: Thresholds) -> Verdict:
    """Share of the characters in 【】 title lines ("【干货】二百个…"): short; a paragraph that opens with its source
    ("【《财经》综合报道】据…") is prose. Counted in characters, not lines: a listing page is made of such titles, an
    article followed by three 【】 related-article links is not."""
    if len(s.lines) < t.min_lines_for_line_rules:
        return Verdict(True, "bracket_lines", 0.0)
    chars = sum(len(line) for line in s.lines)
    frac = sum(len(line) for line in s.lines if _is_bracket_title(line)) / chars if chars else 0.0
    return at_most("bracket_lines", frac, t.max_bracket_lines)


def _is_read_more(line: str) -> bool:
    """A link, alone or after a teaser: "阅读全文", "…… 展开"; a title that ends with the word ("活动全面展开") is not."""
    line = line.rstrip(ARROWS).lower()
    for ending in READ_MORE_ENDINGS:
        if line.endswith(ending):
            before = line[: -len(ending)].rstrip()
            return not before or before != line[: -len(ending)] or before.endswith(("…", ".", "。", "】", "|"))
    return False


def read_more_lines(s: TextStats, t: Thresholds) -> Verdict:
    frac = s.line_fraction(_is_read_more)
    return at_most("read_more_lines", frac, t.max_read_more_lines)


def is_numeric_furniture(line: str) -> bool:
    """A line of digits and symbols only ("29 ]", "- 2012/01/16 12:13 219.8*****137"): a counter, a cut-off
    timestamp, a comment's date and masked IP; a formula, a list number on its own line or the end of a sentence
    with its note number ("……”〔１８〕", in fiction) is text."""
    return (NUMERIC_LINE_RE.fullmatch(line) is not None and not any(mark in line for mark in FORMULA_MARKS)
            and not LIST_NUMBER_RE.fullmatch(line) and not any(mark in line for mark in SENTENCE_MARKS))


def numeric_lines(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("numeric_lines", sum(1 for line in s.lines if is_numeric_furniture(line)), t.max_numeric_lines)


def hash_ratio(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("hash_ratio", s.ratio(s.text.count("#")), t.max_hash_ratio)


def ellipsis_lines(s: TextStats, t: Thresholds) -> Verdict:
    """Lines cut off with "..." or "…": the Chinese ellipsis "……" ends sentences in ordinary prose and is not counted."""
    return _line_rule("ellipsis_lines", s, t, lambda line: line.endswith(TRUNCATION) and not line.endswith("……"),
                      t.max_ellipsis_lines, minimum=False)


def unique_chars(s: TextStats, t: Thresholds) -> Verdict:
    return at_least("unique_char_ratio", s.window_unique_char_ratio(t.unique_char_window), t.min_unique_char_ratio)


def stop_words(s: TextStats, t: Thresholds) -> Verdict:
    """Distinct stop words (Gopher's rule); FineWeb-2's Chinese stop words are single characters."""
    return at_least("stop_words", sum(1 for n in s.char_counts(CHINESE_STOP_WORDS) if n), t.min_stop_words)


def stopword_ratio(s: TextStats, t: Thresholds) -> Verdict:
    ratio = sum(s.char_counts(CHINESE_STOP_WORDS)) / max(1, s.cjk_count)
    return at_least("stopword_ratio", ratio, t.min_stopword_ratio)


def bad_words(s: TextStats, t: Thresholds) -> Verdict:
    n = count_terms(s.text, t.bad_words)
    per_1k = 1000 * n / max(1, s.char_count)
    if n < t.min_bad_words or per_1k <= t.max_bad_words_per_1k:
        return Verdict(True, "bad_words_per_1k", per_1k)
    return Verdict(distinct_terms(s.text, t.bad_words) < t.min_bad_words, "bad_words_per_1k", per_1k)


def pinyin_glosses(s: TextStats, t: Thresholds) -> Verdict:
    n = len(PINYIN_RE.findall(s.text))
    per_1k = 1000 * n / max(1, s.char_count)
    return Verdict(n < t.min_pinyin_glosses or per_1k <= t.max_pinyin_glosses_per_1k, "pinyin_glosses_per_1k", per_1k)


def _on_prose_lines(rule):
    def judged(s: TextStats, t: Thresholds) -> Verdict:
        return rule(s.without_short_lines(t.short_line_chars), t)

    judged.__name__ = rule.__name__
    return judged


RULESET = RuleSet(
    name="chinese",
    thresholds=Thresholds,
    rules=(min_chars, max_chars, han_ratio, punct_ratio, digit_ratio, terminal_lines, short_lines, bracket_lines,
           read_more_lines, numeric_lines, hash_ratio, ellipsis_lines, unique_chars, stop_words, stopword_ratio, bad_words,
           pinyin_glosses)
    + tuple(_on_prose_lines(r) for r in rep.REPETITION_RULES),
    applies_to="cjk",
)
