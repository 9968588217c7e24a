"""Navigation tables out before extraction.

Old table-layout sites (many Chinese news and government pages) put the site
menu in a ``<table>`` beside the article; trafilatura keeps table text with
``include_tables`` and its link-density test does not catch a menu of a few
dozen short links, so the menu entered the extracted text. A table whose text
is mostly short link labels is a menu, whatever its position: it is removed
from the tree before extraction. Tables of links with long labels (a listing of
article titles) and tables with real cell text stay.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+")

LINK_SHARE = 0.6  # share of the table's tokens inside links: at or above, the table is made of links
MAX_LABEL_TOKENS = 5.0  # mean tokens per link: menu labels ("首页", "Contact us") are short, headlines are not
MIN_LINKS = 4  # fewer links is a caption or a table with a reference or two, not a menu


def _tokens(text: str | None) -> int:
    return len(_TOKEN.findall(text or ""))


def is_navigation_table(table) -> bool:
    anchors = list(table.iter("a"))
    if len(anchors) < MIN_LINKS:  # too few links whatever their text: decided before the table's text is read
        return False
    total = _tokens(table.text_content())
    if total == 0:
        return False
    links = [_tokens(a.text_content()) for a in anchors]
    links = [n for n in links if n]
    if len(links) < MIN_LINKS:
        return False
    return sum(links) >= LINK_SHARE * total and sum(links) / len(links) <= MAX_LABEL_TOKENS


def drop_navigation_tables(tree) -> int:
    """Removes navigation tables from an lxml HTML tree (innermost first); returns how many."""
    dropped = 0
    # reversed document order visits nested tables before the layout tables that hold them
    for table in reversed(list(tree.iter("table"))):
        if table.getparent() is None or not is_navigation_table(table):
            continue
        table.drop_tree()  # keeps the tail text, which belongs to the parent
        dropped += 1
    return dropped
