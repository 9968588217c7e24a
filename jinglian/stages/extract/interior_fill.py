"""Interior fill: lines of resiliparse's estimate that precision mode dropped INSIDE the span it kept.

trafilatura's precision mode decides well where a page's main content starts and
ends, but inside that span it drops headings, code lines and short feature lines
(a documentation page loses its section titles and ``git clone ...`` lines, a
service page its feature list). resiliparse's main-content estimate, already
computed for the per-page choice (``decide.py``), keeps those lines but is worse
at the edges (banners, menus, related links, comment blocks). So precision
decides the span and the estimate fills its gaps: the two texts are aligned on
the sentences they share, and a line of the estimate that the precision text
lacks and that lies between two aligned sentences goes in at that place.
Nothing before the first or after the last aligned sentence is added.

Inside an article's span the estimate also holds what precision rightly drops:
photo captions (often twice: alone and with the credit), slideshows, repeated
widget lines, runs of link labels. The filters below keep those out; each was
measured on every dataset and genre of ``benchmarks/genres_extract.py``
(BENCHMARKS.md, extraction), none is keyed to a genre or a language.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from difflib import SequenceMatcher

from jinglian.stages.extract.decide import n_tokens, outside_share, token_counts

# an anchor is a sentence both texts hold once: at least this many tokens (CJK characters or words)
# and sentence-final punctuation. Short labels ("Share", a menu entry, a title) recur elsewhere on a
# page and pulled whole comment blocks and menus into the span when they anchored it
ANCHOR_TOKENS = 8
_SENTENCE_END = re.compile(r"[.!?。！？;；:：…][\"'”’」』)）]*$")
# a candidate whose tokens are at least this share inside the precision text's own unaligned lines of
# the same gap is the same text split or formatted differently, not a missing line
COVERED_SHARE = 0.5
# a candidate of at least this many characters that contains, or is contained in, another candidate of
# its gap is a caption shown twice (alone and with its credit, or inside a slideshow's title)
ECHO_CHARS = 20
# a run of at least this many consecutive candidates of at most SHORT_TOKENS tokens is a list of link
# labels (related articles, tags), not a heading or a feature line between paragraphs
LINK_RUN, SHORT_TOKENS = 3, 4
# list bullets differ between the extractors (trafilatura "- ", resiliparse "• "); case and spacing too
_BULLET = re.compile(r"^(?:[-•*·▪◦‣]\s+)+")
_SPACE = re.compile(r"\s+")
# "3 / 12", "3 of 12": a slideshow's position; a gap that holds one is a gallery of captions
_SLIDE_COUNTER = re.compile(r"^\d+ ?(?:/|of) ?\d+$")
# a paragraph or list item whose text is at least this share link text is a teaser ("MORE: ...",
# "Also read: ...") or a link list, not a line of the article around it
LINK_TEXT_SHARE = 0.8


def normalise(line: str) -> str:
    return _SPACE.sub(" ", _BULLET.sub("", line.strip())).lower()


def _anchors(own: list[str], theirs: list[str]) -> list[tuple[int, int]]:
    """``(index in own, index in theirs)`` of the sentences the two line lists share, in order."""
    matcher = SequenceMatcher(None, own, theirs, autojunk=False)
    pairs = [(b.a + k, b.b + k) for b in matcher.get_matching_blocks() for k in range(b.size)]
    n_own, n_theirs = Counter(own), Counter(theirs)
    return [(a, b) for a, b in pairs
            if n_own[own[a]] == 1 and n_theirs[theirs[b]] == 1
            and n_tokens(own[a]) >= ANCHOR_TOKENS and _SENTENCE_END.search(own[a])]


def _gap_lines(candidates: list[str], own_gap: Counter) -> list[str]:
    """The candidates of one gap that are missing content (``[]``: the whole gap is a slideshow)."""
    keys = [normalise(c) for c in candidates]
    if any(_SLIDE_COUNTER.match(k) for k in keys):
        return []
    long_keys = [k for k in keys if len(k) >= ECHO_CHARS]
    kept = []
    for line, key in zip(candidates, keys):
        bag = token_counts(line)
        if not bag or (own_gap and 1.0 - outside_share(bag, own_gap) >= COVERED_SHARE):
            continue
        if len(key) >= ECHO_CHARS and any(key != other and (key in other or other in key) for other in long_keys):
            continue
        kept.append(line)
    return _without_link_runs(kept)


def _without_link_runs(lines: list[str]) -> list[str]:
    short = [n_tokens(line) <= SHORT_TOKENS for line in lines]
    kept, i = [], 0
    while i < len(lines):
        j = i
        while j < len(lines) and short[j] == short[i]:
            j += 1
        if not (short[i] and j - i >= LINK_RUN):
            kept += lines[i:j]
        i = j
    return kept


def link_paragraphs(tree) -> list[str]:
    """Normalised texts of the page's ``<p>`` and ``<li>`` elements made of links (LINK_TEXT_SHARE)."""
    out = []
    for element in tree.iter("p", "li"):
        whole = _SPACE.sub(" ", "".join(element.itertext())).strip()
        if not whole:
            continue
        linked = sum(len(_SPACE.sub(" ", "".join(a.itertext())).strip()) for a in element.iter("a"))
        if linked >= LINK_TEXT_SHARE * len(whole):
            out.append(normalise(whole))
    return out


def _within_any(key: str, texts: list[str]) -> bool:
    return any(key in t for t in texts)


def interior_fill(text: str, estimate: str, links: Callable[[], list[str]] | None = None) -> str:
    """``text`` with the estimate's missing lines between shared sentences inserted (unchanged if none).

    ``links``: gives the page's link paragraphs (:func:`link_paragraphs`), called only when there is
    a line to insert; a line that is (part of) one of them stays out.
    """
    lines = text.split("\n")
    own = [(i, normalise(line)) for i, line in enumerate(lines) if line.strip()]
    theirs = [line.strip() for line in estimate.split("\n") if line.strip()]
    if len(own) < 2 or len(theirs) < 3:
        return text
    keys_own = [k for _, k in own]
    keys_theirs = [normalise(line) for line in theirs]
    anchors = _anchors(keys_own, keys_theirs)
    present, repeated = set(keys_own), {k for k, n in Counter(keys_theirs).items() if n > 1}
    inserts: dict[int, list[str]] = {}  # index in ``lines`` -> the lines to put before it
    for (a0, b0), (a1, b1) in zip(anchors, anchors[1:]):
        # a line the estimate repeats is a widget (share bar, "Photo:" label), not a paragraph's neighbour
        candidates = [theirs[b] for b in range(b0 + 1, b1) if keys_theirs[b] not in present and keys_theirs[b] not in repeated]
        if not candidates:
            continue
        own_gap = token_counts("\n".join(lines[own[a][0]] for a in range(a0 + 1, a1)))
        missing = _gap_lines(candidates, own_gap)
        if missing:
            inserts[own[a1][0]] = missing
    if inserts and links is not None:
        teasers = links()
        for at, missing in list(inserts.items()):
            missing = [line for line in missing if not _within_any(normalise(line), teasers)]
            if missing:
                inserts[at] = missing
            else:
                del inserts[at]
    if not inserts:
        return text
    out = []
    for i, line in enumerate(lines):
        out += inserts.get(i, [])
        out.append(line)
    return "\n".join(out)
