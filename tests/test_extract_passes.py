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


def test_replayed_alternatives_change_only_the_choice_they_name():
    # the --passes alternatives are scored from the same parts: a rule that fires sends the page to the defaults pass
    parts = genres_extract.page_parts(table_layout_page(), None)
    kept, _, passes = genres_extract.replay(parts)
    assert passes == 1 and kept == parts["precision"]
    text, cost, passes = genres_extract.replay(parts, coverage=-1.0)  # any share of the estimate left out is too much
    assert passes == 2 and text.strip() == parts["defaults"].strip() and cost > genres_extract.replay(parts)[1]
    assert genres_extract.replay(parts, agree=0.05, coverage=None)[0] == kept  # agreement only acts on short pages


def test_replay_fills_the_interior_as_the_stage_does():
    from tests.test_extract_fill import documentation_page

    html = documentation_page()
    parts = genres_extract.page_parts(html, None)
    text, _, passes = genres_extract.replay(parts)
    stage_text, _ = extract_text(html, isolate=False)
    assert passes == 1 and text.strip() == stage_text and text != parts["precision"]
    assert genres_extract.replay(parts, fill=False)[0] == parts["precision"]  # the alternative without the fill
