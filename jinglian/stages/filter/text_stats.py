"""Script-aware statistics of one document, computed once and shared by every rule set.

The unit of counting follows the script: a Latin (or Cyrillic, Greek, ...) *word*
is a run of letters/digits; every CJK character is a unit of its own, because
Chinese has no spaces and a "word" split on whitespace would be a whole
sentence. Word counts, mean word length, n-gram repetition and stop-word
counts are all taken over these units, so one rule works on mixed text.

Every property is computed lazily (``cached_property``): a rule set that never
looks at n-grams does not pay for them, and rule sets sharing a statistic share
the work.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cached_property

import numpy as np

from jinglian.core.cjk import HAN, HAN_RE, HANGUL_SPANS, KANA_SPANS, char_class

# Han, kana, Hangul.
HAN_RANGES = HAN
CJK_RANGES = HAN_RANGES + char_class(KANA_SPANS + HANGUL_SPANS)
CJK_RE = re.compile(f"[{CJK_RANGES}]")
# A unit: one CJK character, or a run of word characters of any other script
# (apostrophes inside English words kept: "don't" is one word).
UNIT_RE = re.compile(f"[{CJK_RANGES}]|[^\\W_{CJK_RANGES}]+(?:['’][^\\W_{CJK_RANGES}]+)*")
PARAGRAPH_SPLIT_RE = re.compile(r"\n\s*\n")
# A fenced Markdown code block (``` or ~~~ up to the same fence); an unclosed fence is left as text.
CODE_BLOCK_RE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[^\n]*$", re.M | re.S)
# Markup that is not prose either: Markdown table rows (| a | b |, |---|---|) and HTML comments.
TABLE_ROW_RE = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M)
HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
# A table cell of at least this many characters is a sentence, not a label: calibrated on the Chinese pages of
# web-genres-extract cwced, where table-layout sites hold whole paragraphs in cells, and on zh-laws' tables of
# amendments (cells of 4-15 characters: "第6条之一", "《刑法修正案（六）》第6条").
PROSE_CELL_CHARS = 20
# Emoticon codes of Chinese social sites ("[蜡烛]", "[哈哈]"): a reaction, not words of the text.
EMOTICON_RE = re.compile(r"\[[^\[\]\s\d]{1,8}\]")
# A run of one repeated character ("哈哈哈哈哈哈", "啊啊啊") is one expressive token, not a repeated phrase.
CHAR_RUN_RE = re.compile(r"(\w)\1{2,}")
# Social-site markers of text that is not the author's own (see own_words). A quoted post runs from "@name:"
# (with or without the repost chain's "//") to the end of the line; "回复@name:" only addresses the reply.
REPLY_TO_RE = re.compile(r"回复@[^\s@:：]{1,30}[:：]")
QUOTED_POST_RE = re.compile(r"(?<![A-Za-z0-9._%+-])/*@[^\s@:：/]{1,30}[:：].*")
TOPIC_TAG_RE = re.compile(r"#[^#\s][^#\n]{0,29}#")
LINK_RE = re.compile(r"(?:https?://|www\.)[\x21-\x7e]*")

# Sentence-final punctuation of both scripts (closing quotes/brackets after a
# full stop count: 他说：“好。” ends a sentence).
TERMINAL_PUNCTUATION = tuple(".!?。！？…；;：:\"'”’」』）)》")
ELLIPSES = ("...", "…", "……", "。。。")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▶", "►", "◆", "◇", "★", "☆", "-", "*", "·", "‣", "⁃")

_HASH = np.uint64(0x9E3779B97F4A7C15)


def _deletion_table(predicate) -> dict[int, None]:
    return {cp: None for cp in range(0x10000) if predicate(chr(cp))}


# str.translate with a deletion table counts character classes at C speed.
_PUNCT = _deletion_table(lambda c: unicodedata.category(c).startswith("P"))
_DIGITS = _deletion_table(str.isdigit)
_ALPHA = _deletion_table(str.isalpha)


def _count(text: str, table: dict[int, None]) -> int:
    return len(text) - len(text.translate(table))


def _prose_cells(row: re.Match) -> str:
    """The cells of a Markdown table row that are text (a paragraph in a table-layout page), one per line;
    label and number cells (a law's table of amendments, a menu) are not prose."""
    cells = (c.strip() for c in row.group(0).strip().strip("|").split("|"))
    return "\n".join(c for c in cells if len(c) >= PROSE_CELL_CHARS)


def prose(text: str) -> str:
    """``text`` without fenced code blocks, Markdown tables and HTML comments: prose rules (punctuation,
    stop words, repetition) say nothing useful about them, and a tutorial's code or a law's table of
    amendments would otherwise decide the document's fate. Table cells long enough to be sentences stay:
    old table-layout pages put the whole article in table cells."""
    if "```" in text or "~~~" in text:
        text = CODE_BLOCK_RE.sub("", text)
    if "|" in text:
        text = TABLE_ROW_RE.sub(_prose_cells, text)
    if "<!--" in text:
        text = HTML_COMMENT_RE.sub("", text)
    return text


class TextStats:
    """Statistics of the prose of ``text`` (fenced code blocks removed, see :func:`prose`).

    ``is_cjk`` says whether the document is CJK prose (known from a ``lang``
    column); when None, it is decided by the share of CJK characters among
    letters reaching ``cjk_threshold``.
    """

    def __init__(self, text: str, is_cjk: bool | None = None, cjk_threshold: float = 0.3):
        self.source = text or ""
        self.text = prose(self.source)
        self.cjk_threshold = cjk_threshold
        if is_cjk is not None:
            self.is_cjk = is_cjk
        self._ngram_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # ---- characters -------------------------------------------------------
    @cached_property
    def char_count(self) -> int:
        """Non-whitespace characters (str.split's whitespace is str.isspace's; splitting runs at C speed where
        translate with a deletion table looks every character up in a dict)."""
        return sum(map(len, self.text.split()))

    @cached_property
    def han_count(self) -> int:
        return len(HAN_RE.findall(self.text))

    @cached_property
    def cjk_count(self) -> int:
        return len(CJK_RE.findall(self.text))

    @cached_property
    def alpha_count(self) -> int:
        """Letters of any script (CJK characters included)."""
        return _count(self.text, _ALPHA)

    @cached_property
    def digit_count(self) -> int:
        return _count(self.text, _DIGITS)

    @cached_property
    def punct_count(self) -> int:
        return _count(self.text, _PUNCT)

    @cached_property
    def cjk_letter_ratio(self) -> float:
        """CJK characters among all letters: the script of the prose, blind to digits and markup."""
        return self.cjk_count / self.alpha_count if self.alpha_count else 0.0

    @cached_property
    def is_cjk(self) -> bool:
        """The script of the document, tables and code included: a Chinese page whose text is mostly layout
        tables is still Chinese (judged by the Chinese rules, not by English word counts of what is left)."""
        if self.alpha_count and self.cjk_letter_ratio >= self.cjk_threshold:
            return True
        return self.source is not self.text and _cjk_letter_ratio(self.source) >= self.cjk_threshold

    @cached_property
    def han_ratio(self) -> float:
        """Han characters among non-whitespace characters (ChineseWebText/MAP-CC's Chinese-character ratio)."""
        return self.han_count / self.char_count if self.char_count else 0.0

    def ratio(self, count: int) -> float:
        return count / self.char_count if self.char_count else 0.0

    # ---- units (words / CJK characters) -------------------------------------
    @cached_property
    def units(self) -> list[str]:
        """Lower-cased units (case never matters to a rule, and lowering once is cheaper than per use)."""
        return UNIT_RE.findall(self.text.lower())

    @cached_property
    def words(self) -> list[str]:
        """Non-CJK words only (for rules defined on whitespace-delimited words)."""
        return [u for u in self.units if not CJK_RE.match(u)]

    @cached_property
    def unit_counts(self) -> Counter:
        return Counter(self.units)

    @cached_property
    def whitespace_tokens(self) -> list[str]:
        """Gopher's notion of a word for symbol ratios and alphabetic-word fraction."""
        return self.text.split()

    # ---- lines and paragraphs ----------------------------------------------
    @cached_property
    def lines(self) -> list[str]:
        """Non-empty lines, stripped."""
        return [s for s in (line.strip() for line in self.text.split("\n")) if s]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [s for s in (p.strip() for p in PARAGRAPH_SPLIT_RE.split(self.text)) if s]

    @cached_property
    def dup_lines(self) -> tuple[float, float]:
        """(fraction of lines that repeat an earlier line, fraction of characters in them)."""
        return _duplicates(self.lines)

    @cached_property
    def dup_paragraphs(self) -> tuple[float, float]:
        return _duplicates(self.paragraphs)

    def without_short_lines(self, max_chars: int) -> "TextStats":
        """Statistics of the author's own lines longer than ``max_chars`` (cached per length): emoticon codes,
        quoted posts, topic tags and links removed (:func:`own_words`), runs of one character shortened to
        two, and the second copy of a line that occurs exactly twice left out when it is the only repeated
        line. The repetition of a comment thread's reactions ("转发微博。", "[蜡烛]", "哈哈哈哈哈"), a recipe's
        ingredient lines or a post quoted once in its replies is not duplicated content."""
        cache = self.__dict__.setdefault("_without_short", {})
        if max_chars not in cache:
            lines = [line for line in own_words(self.text).split("\n") if len(line.strip()) > max_chars]
            kept = CHAR_RUN_RE.sub(r"\1\1", "\n".join(_without_single_quote(lines)))
            if kept == self.text:  # nothing left out: share this document's statistics (and their cost)
                cache[max_chars] = self
            else:
                sub = TextStats("", is_cjk=self.is_cjk, cjk_threshold=self.cjk_threshold)
                sub.text = kept  # already prose: no second pass over code blocks and tables
                cache[max_chars] = sub
        return cache[max_chars]

    def char_counts(self, chars) -> list[int]:
        """Occurrences of each single character of ``chars`` in the prose (str.count: no unit split needed;
        for CJK text a character is a unit, so this equals the unit count)."""
        return [self.text.count(c) for c in chars]

    def distinct_units(self, words) -> int:
        """How many of ``words`` occur at least once (Gopher counts distinct stop words, not occurrences)."""
        counts = self.unit_counts
        return sum(1 for w in words if counts[w])

    def line_fraction(self, predicate) -> float:
        if not self.lines:
            return 0.0
        return sum(1 for line in self.lines if predicate(line)) / len(self.lines)

    # ---- n-gram repetition over units ---------------------------------------
    @cached_property
    def _unit_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(integer id of each unit, character length of each unit)."""
        vocab = {u: i for i, u in enumerate(dict.fromkeys(self.units), 1)}
        ids = np.fromiter(map(vocab.__getitem__, self.units), dtype=np.uint64, count=len(self.units))
        return ids, np.fromiter(map(len, self.units), dtype=np.int64, count=len(self.units))

    def _ngrams(self, n: int):
        """(hash of each n-gram start, character length of each n-gram, unit lengths)."""
        if n not in self._ngram_cache:
            units = self.units
            ids, lengths = self._unit_arrays
            if len(units) < n:
                self._ngram_cache[n] = (np.empty(0, np.uint64), np.empty(0, np.int64), lengths)
            else:
                hashes = np.zeros(len(units) - n + 1, dtype=np.uint64)
                with np.errstate(over="ignore"):
                    for k in range(n):
                        hashes = hashes * _HASH + ids[k : len(units) - n + 1 + k]
                csum = np.concatenate([[0], np.cumsum(lengths)])
                gram_len = csum[n:] - csum[:-n]
                self._ngram_cache[n] = (hashes, gram_len, lengths)
        return self._ngram_cache[n]

    def top_ngram_char_frac(self, n: int) -> float:
        """Characters covered by the most frequent n-gram (all its occurrences) / all unit characters."""
        hashes, gram_len, lengths = self._ngrams(n)
        total = int(lengths.sum())
        if len(hashes) == 0 or total == 0:
            return 0.0
        uniq, first, counts = np.unique(hashes, return_index=True, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] < 2:
            return 0.0
        return min(1.0, counts[top] * int(gram_len[first[top]]) / total)

    def dup_ngram_char_frac(self, n: int) -> float:
        """Characters of units inside any n-gram that occurs more than once / all unit characters."""
        hashes, _, lengths = self._ngrams(n)
        total = int(lengths.sum())
        if len(hashes) == 0 or total == 0:
            return 0.0
        _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        dup_start = (counts[inverse] > 1).astype(np.int64)
        # A unit is covered if any of the n n-grams containing it is duplicated.
        covered = np.convolve(dup_start, np.ones(n, dtype=np.int64))[: len(lengths)] > 0
        return float(lengths[covered].sum()) / total

    def window_unique_char_ratio(self, window: int) -> float:
        """Distinct characters / characters over the first ``window`` non-space characters."""
        chars = "".join(self.text[: window * 2].split())[:window]  # split: C speed, str.isspace's whitespace
        return len(set(chars)) / len(chars) if chars else 0.0


def own_words(text: str) -> str:
    """``text`` without what its author did not write or say: emoticon codes ("[蜡烛]"), a post quoted in a
    repost chain ("…//@name: quoted text" to the end of the line), a reply's address ("回复@name:"), topic tags
    ("#热门微博#") and links. These are markers of social sites; prose of other genres holds none of them and
    is returned as it is."""
    if "[" in text:
        text = EMOTICON_RE.sub("", text)
    if "@" in text:
        text = QUOTED_POST_RE.sub("", REPLY_TO_RE.sub("", text))
    if "#" in text:
        text = TOPIC_TAG_RE.sub("", text)
    if "http" in text or "www." in text:
        text = LINK_RE.sub("", text)
    return text


def _without_single_quote(lines: list[str]) -> list[str]:
    """``lines`` without the second copy of a line, when exactly one line occurs twice and no other line
    repeats. One repeat is not a rate: in a short text one quoted line (a thread's post reposted by a reader,
    a lead repeated as a summary) decides a duplicate fraction on its length alone. Two or more repeats,
    or one line three times, are a pattern and are all counted."""
    counts = Counter(line.strip() for line in lines)
    repeated = [line for line, n in counts.items() if n > 1]
    if len(repeated) != 1 or counts[repeated[0]] != 2:
        return lines
    seen = False
    out = []
    for line in lines:
        if line.strip() == repeated[0]:
            if seen:
                continue
            seen = True
        out.append(line)
    return out


def _cjk_letter_ratio(text: str) -> float:
    alpha = _count(text, _ALPHA)
    return len(CJK_RE.findall(text)) / alpha if alpha else 0.0


def _duplicates(items: list[str]) -> tuple[float, float]:
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_items = dup_chars = total_chars = 0
    for item in items:
        total_chars += len(item)
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items / len(items), dup_chars / total_chars if total_chars else 0.0
