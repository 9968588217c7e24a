"""Per-page choice between extractions: precision first, something broader when it came up short.

trafilatura's precision mode is the best single setting on article pages, but on
forums, listings and product pages it drops most of the content (the posts sit in
comment-like or link-dense containers it prunes), sometimes all of it. A second,
independent opinion of how much main text the page holds tells those pages
apart cheaply: resiliparse's main-content text (C++, a few milliseconds a page,
under a tenth of a trafilatura pass). Only when the two disagree does trafilatura
run again with its defaults (balanced, recall escalation), comments as the stage
is configured; a page that is short even then gets one more pass with comments to
tell a thread of posts from an article with reader comments (``pick_short``).

The three share thresholds are ratios of token counts, chosen on the even-hash
half of the genre benchmark pages (``benchmarks/genres_extract.py``) and checked
on the other half; they are round values from a flat optimum, not fitted to a
genre. ``ARTICLE_TOKENS`` and the comments rule were chosen after seeing both halves.
"""

from __future__ import annotations

import re
from collections import Counter

# a token is one CJK character or one run of other word characters: counts compare across languages
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+")

# precision kept under a quarter of the tokens resiliparse sees as main content: it dropped content
SHORT_SHARE = 0.25
# the fallback (trafilatura defaults) under 0.3 of resiliparse's tokens: trafilatura misses the
# content in either mode (e.g. a page of short posts), resiliparse's text is the better estimate
FALLBACK_SHORT_SHARE = 0.3
# over a tenth of the precision text lies outside resiliparse's main content: the two disagree on
# which block is the main one, and trafilatura's balanced defaults arbitrate
OUTSIDE_SHARE = 0.10
# a text of at least this many tokens outside comment containers is an article in its own right
# (reader comments below it are not main text); below it, the page is its posts (forum, comment page)
ARTICLE_TOKENS = 100
# the broader extractions repeat whole posts (trafilatura's defaults emit a comment block in the body
# and again as comments; resiliparse repeats teasers): a repeated line this long is a copy, not content
REPEATED_LINE_CHARS = 10


def token_counts(text: str) -> Counter:
    return Counter(_TOKEN.findall(text.lower()))


def n_tokens(text: str) -> int:
    """How many tokens ``text`` holds (the total of :func:`token_counts`, without building the counter)."""
    return len(_TOKEN.findall(text.lower()))


def outside_share(text: Counter, reference: Counter) -> float:
    """Share of ``text``'s tokens that ``reference`` does not contain (bag semantics)."""
    total = sum(text.values())
    if not total:
        return 0.0
    return 1.0 - sum((text & reference).values()) / total


def main_content_estimate(html: str) -> str:
    """resiliparse's main-content text of the page ("" if resiliparse is missing or fails)."""
    try:
        from resiliparse.extract.html2text import extract_plain_text
    except ImportError:
        return ""
    try:
        return extract_plain_text(html, main_content=True)
    except Exception:  # noqa: BLE001 - an estimate that fails only means no second opinion
        return ""


PRECISION, DEFAULT, SHORT = "precision", "default", "short"


def verdict(precise: str, estimate: str) -> str:
    """Which extraction a page gets, from its precision text and resiliparse's estimate.

    ``precision``: keep it; ``default``: replace it by trafilatura's defaults;
    ``short``: precision dropped content, take the defaults, or the estimate when
    the defaults are short as well (see :func:`pick_short`).
    """
    p, e = token_counts(precise), token_counts(estimate)
    n_p, n_e = sum(p.values()), sum(e.values())
    if n_e == 0:
        return SHORT if n_p == 0 else DEFAULT  # no second opinion: the baseline's broad mode decides
    if n_p < SHORT_SHARE * n_e:
        return SHORT
    if outside_share(p, e) > OUTSIDE_SHARE:
        return DEFAULT
    return PRECISION


def drop_repeated_lines(text: str, min_chars: int = REPEATED_LINE_CHARS) -> str:
    """The text without second and later copies of a line (stripped) of at least ``min_chars`` characters."""
    seen: set[str] = set()
    out = []
    for line in text.split("\n"):
        key = line.strip()
        if len(key) >= min_chars:
            if key in seen:
                continue
            seen.add(key)
        out.append(line)
    return "\n".join(out)


def long_enough(fallback: str, estimate: str) -> bool:
    """The fallback holds at least FALLBACK_SHORT_SHARE of the estimate's tokens (or there is no estimate)."""
    n_e = n_tokens(estimate)
    return not n_e or n_tokens(fallback) >= FALLBACK_SHORT_SHARE * n_e


def pick_short(configured: str, broadest: str, estimate: str) -> tuple[str, str]:
    """``(text, source)`` for a ``short`` page whose configured fallback is itself short of the estimate.

    ``configured``: trafilatura's defaults as the stage is set (no comments unless asked);
    ``broadest``: the same with comments. When even the broadest text is short of the
    estimate, trafilatura misses the content (short posts, listings): the estimate is the
    better text. When only the comments make it long enough, the page is either an article
    with reader comments (the configured text is a real article: keep it) or a thread whose
    posts sit in comment containers (the configured text is a heading and a menu: the
    posts are the content).
    """
    if not long_enough(broadest, estimate):
        return estimate.strip(), "resiliparse"
    if n_tokens(configured) >= ARTICLE_TOKENS:
        return configured, "default"
    return broadest, "default+comments"
