"""The extraction profile (``benchmarks/genres_extract.py --passes``) replays the stage's own choice.

Its CPU and F1 figures for the stage are only worth something if the replay from
separately timed parts gives the text the stage gives, on each path of the choice.
"""

from __future__ import annotations

import pytest

from tests.test_extract import comment_page, extract_text, forum_thread, product_page, table_layout_page

pytest.importorskip("resiliparse")
genres_extract = pytest.importorskip("benchmarks.genres_extract")


@pytest.mark.parametrize("make", [forum_thread, comment_page, product_page, table_layout_page])
def test_replay_gives_the_stage_text(make):
    html = make()
    parts = genres_extract.page_parts(html, None)
    text, cost, passes = genres_extract.replay(parts)
    stage_text, summary = extract_text(html, isolate=False)
    assert text.strip() == stage_text
    assert cost > 0 and passes == {"precision": 1, "default": 2, "default+comments": 3, "resiliparse": 3}[next(iter(summary["text_from"]))]
