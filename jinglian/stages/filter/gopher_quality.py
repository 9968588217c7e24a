"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

Made script-aware: a "word" is a unit of :mod:`text_stats` (a Latin word or one
CJK character), and the stop-word rule uses the stop-word list of the
document's script. Mean word length is undefined for unsegmented CJK text
(every unit is one character), so that rule only judges non-CJK documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinglian.stages.filter.rules import RuleSet, Verdict, at_least, at_most
from jinglian.stages.filter.text_stats import BULLETS, ELLIPSES, TextStats
from jinglian.stages.filter.wordlists import CHINESE_STOP_WORDS, ENGLISH_STOP_WORDS


@dataclass(frozen=True)
class Thresholds:
    min_words: int = 50  # Gopher: 50 <= words
    max_words: int = 100_000  # Gopher: words <= 100,000
    min_avg_word_length: float = 3.0  # Gopher: mean word length in [3, 10] characters
    max_avg_word_length: float = 10.0
    max_hash_ratio: float = 0.1  # Gopher: "#" symbols per word <= 0.1
    max_ellipsis_ratio: float = 0.1  # Gopher: "..."/"…" per word <= 0.1
    max_bullet_lines: float = 0.9  # Gopher: <= 90% of lines start with a bullet
    max_ellipsis_lines: float = 0.3  # Gopher: <= 30% of lines end with an ellipsis
    min_alpha_words: float = 0.8  # Gopher: >= 80% of words contain an alphabetic character
    min_stop_words: int = 2  # Gopher: at least 2 distinct of its 8 stop words (FineWeb-2 keeps 2 for cmn_Hani)


def word_count_min(s: TextStats, t: Thresholds) -> Verdict:
    return at_least("min_words", len(s.units), t.min_words)


def word_count_max(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("max_words", len(s.units), t.max_words)


def avg_word_length(s: TextStats, t: Thresholds) -> Verdict:
    if s.is_cjk or not s.words:
        return Verdict(True, "avg_word_length", 0.0)
    mean = sum(len(w) for w in s.words) / len(s.words)
    return Verdict(t.min_avg_word_length <= mean <= t.max_avg_word_length, "avg_word_length", mean)


def hash_ratio(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("hash_ratio", s.text.count("#") / max(1, len(s.units)), t.max_hash_ratio)


def ellipsis_ratio(s: TextStats, t: Thresholds) -> Verdict:
    n = s.text.count("...") + s.text.count("…")
    return at_most("ellipsis_ratio", n / max(1, len(s.units)), t.max_ellipsis_ratio)


def bullet_lines(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("bullet_lines", s.line_fraction(lambda line: line.startswith(BULLETS)), t.max_bullet_lines)


def ellipsis_lines(s: TextStats, t: Thresholds) -> Verdict:
    return at_most("ellipsis_lines", s.line_fraction(lambda line: line.endswith(ELLIPSES)), t.max_ellipsis_lines)


def alpha_words(s: TextStats, t: Thresholds) -> Verdict:
    tokens = s.whitespace_tokens
    frac = sum(1 for w in tokens if any(c.isalpha() for c in w)) / len(tokens) if tokens else 0.0
    return at_least("alpha_words", frac, t.min_alpha_words)


def stop_words(s: TextStats, t: Thresholds) -> Verdict:
    words = CHINESE_STOP_WORDS if s.is_cjk else ENGLISH_STOP_WORDS
    return at_least("stop_words", s.distinct_units(words), t.min_stop_words)


RULESET = RuleSet(
    name="gopher_quality",
    thresholds=Thresholds,
    rules=(word_count_min, word_count_max, avg_word_length, hash_ratio, ellipsis_ratio,
           bullet_lines, ellipsis_lines, alpha_words, stop_words),
    applies_to="non_cjk",
)
