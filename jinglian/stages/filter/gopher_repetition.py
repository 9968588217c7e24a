"""Gopher repetition rules (Rae et al. 2021, appendix A.1.1, table A1).

Duplicate lines/paragraphs and n-gram repetition. N-grams are over the units of
:mod:`text_stats` (words for Latin text, characters for CJK text), weighted by
characters as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jinglian.stages.filter.rules import RuleSet, Verdict, at_most
from jinglian.stages.filter.text_stats import TextStats


@dataclass(frozen=True)
class Thresholds:
    max_dup_line_frac: float = 0.30  # Gopher: duplicate lines / lines
    max_dup_para_frac: float = 0.30  # Gopher: duplicate paragraphs / paragraphs
    max_dup_line_char_frac: float = 0.20  # Gopher: characters in duplicate lines / characters
    max_dup_para_char_frac: float = 0.20  # Gopher: characters in duplicate paragraphs / characters
    # Gopher: characters covered by the most frequent n-gram, n = 2, 3, 4.
    top_ngrams: dict = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    # Gopher: characters covered by duplicated n-grams, n = 5..10.
    dup_ngrams: dict = field(default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    # An n-gram limit is judged only on texts of at least this many n-grams' length (units >= this * n); 0 judges
    # every text, as Gopher does (its documents have >= 50 words).
    min_ngram_spans: int = 0


def dup_line_frac(s: TextStats, t) -> Verdict:
    return at_most("dup_line_frac", s.dup_lines[0], t.max_dup_line_frac)


def dup_para_frac(s: TextStats, t) -> Verdict:
    return at_most("dup_para_frac", s.dup_paragraphs[0], t.max_dup_para_frac)


def dup_line_char_frac(s: TextStats, t) -> Verdict:
    return at_most("dup_line_char_frac", s.dup_lines[1], t.max_dup_line_char_frac)


def dup_para_char_frac(s: TextStats, t) -> Verdict:
    return at_most("dup_para_char_frac", s.dup_paragraphs[1], t.max_dup_para_char_frac)


def _every_n(kind: str, measure, limits: dict, units: int, min_spans: int) -> Verdict:
    """The first n (smallest first) whose fraction exceeds its limit, else a pass; an n is skipped on a text
    shorter than ``min_spans`` n-grams."""
    for n, limit in sorted(limits.items()):
        if units < min_spans * int(n):
            continue
        verdict = at_most(f"{kind}_{n}gram_frac", measure(int(n)), limit)
        if not verdict.keep:
            return verdict
    return Verdict(True, f"{kind}_ngram_frac", 0.0)


def top_ngrams(s: TextStats, t) -> Verdict:
    return _every_n("top", s.top_ngram_char_frac, t.top_ngrams, len(s.units), t.min_ngram_spans)


def dup_ngrams(s: TextStats, t) -> Verdict:
    return _every_n("dup", s.dup_ngram_char_frac, t.dup_ngrams, len(s.units), t.min_ngram_spans)


# The rules a ``chinese``-style set reuses with its own thresholds.
REPETITION_RULES = (dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac, top_ngrams, dup_ngrams)

RULESET = RuleSet(name="gopher_repetition", thresholds=Thresholds, rules=REPETITION_RULES, applies_to="non_cjk")
