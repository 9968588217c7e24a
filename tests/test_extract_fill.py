"""Interior fill: the estimate's lines that precision dropped between sentences both texts keep go back in."""

from __future__ import annotations

import pytest

from jinglian.stages.extract.interior_fill import interior_fill

S1 = "The configuration file lists every resource the workspace manages."
S2 = "Apply the configuration once the plan shows the changes you expect."
S3 = "Terraform records what it created in a state file next to the configuration."


def test_heading_and_code_between_shared_sentences_go_in_at_their_place():
    precise = "\n".join([S1, S2, S3])
    estimate = "\n".join(["Docs home", S1, "Write the configuration", "terraform init -upgrade", S2, "Inspect the state", S3, "Was this page helpful?"])
    assert interior_fill(precise, estimate).split("\n") == [
        S1, "Write the configuration", "terraform init -upgrade", S2, "Inspect the state", S3]


def test_nothing_before_the_first_or_after_the_last_shared_sentence():
    precise = "\n".join([S1, S2])
    estimate = "\n".join(["Sign in to continue", "Menu entry", S1, S2, "Related: another article", "Copyright 2024"])
    assert interior_fill(precise, estimate) == precise


def test_a_short_label_or_a_line_without_a_sentence_end_is_no_anchor():
    # a title and a menu entry both texts hold would pull in whatever lies between them (a comment block)
    precise = "\n".join(["Breaking news today", S1, "Home page link"])
    estimate = "\n".join(["Breaking news today", "Posted by a reader", S1, "Reply from another reader", "Home page link"])
    assert interior_fill(precise, estimate) == precise


def test_lines_precision_already_has_are_not_added_again_bullets_and_case_aside():
    precise = "\n".join([S1, "- Free shipping on every order", S2])
    estimate = "\n".join([S1, "• free shipping on every order", S2])
    assert interior_fill(precise, estimate) == precise


def test_the_same_text_split_differently_is_not_a_missing_line():
    joined = "First half of a long sentence that the other extractor cut in two and second half of it."
    precise = "\n".join([S1, joined, S2])
    estimate = "\n".join([S1, "First half of a long sentence that the other extractor cut in two", "and second half of it.", S2])
    assert interior_fill(precise, estimate) == precise


CAPTION = "Boats were ripped from their moorings during the storm"


@pytest.mark.parametrize("junk", [
    [CAPTION, CAPTION + " Picture: a photographer"],  # a caption alone and with its credit
    ["Photos of the storm", "1 / 12", "A harbour after the storm, seen from the hill above it"],  # a slideshow
    ["Sports", "Weather", "Travel", "Opinion"],  # a run of link labels
    ["Share this", "Share this"],  # a widget line the page repeats
], ids=["caption-twice", "slideshow", "link-run", "repeated-widget"])
def test_captions_shown_twice_slideshows_link_runs_and_widgets_stay_out(junk):
    precise = "\n".join([S1, S2])
    assert interior_fill(precise, "\n".join([S1, *junk, S2])) == precise
    # the same gap with a missing line of the article: it goes in, the junk does not; a slideshow's
    # gap is a gallery of captions as a whole and stays out with everything in it
    line = "Storm damage along the northern coast"
    kept = [] if "1 / 12" in junk else [line]
    assert interior_fill(precise, "\n".join([S1, line, *junk, S2])).split("\n") == [S1, *kept, S2]


def test_lines_of_link_paragraphs_stay_out():
    # "MORE: <linked title>" between two paragraphs: a teaser for another article, made of a link
    from lxml import html as lxml_html

    from jinglian.stages.extract.interior_fill import link_paragraphs

    page = lxml_html.fromstring(f"""<html><body><article><p>{S1}</p>
        <p>MORE: <a href="/other">Robots now deliver pizza within a mile of the store</a></p>
        <p>Delivery robots are unlocked with a code</p>
        <p>{S2}</p></article></body></html>""")
    teasers = link_paragraphs(page)
    assert teasers == ["more: robots now deliver pizza within a mile of the store"]
    precise = "\n".join([S1, S2])
    estimate = "\n".join([S1, "MORE: Robots now deliver pizza within a mile of the store", "Delivery robots are unlocked with a code", S2])
    assert interior_fill(precise, estimate, lambda: teasers).split("\n") == [S1, "Delivery robots are unlocked with a code", S2]
    assert "MORE: Robots" in interior_fill(precise, estimate)  # without the page's links the line would go in


def test_the_page_links_are_looked_up_only_when_a_line_would_go_in():
    calls = []
    interior_fill("\n".join([S1, S2]), "\n".join([S1, S2]), lambda: calls.append(1) or [])
    assert calls == []


def test_chinese_lines_align_on_sentences_too():
    a, b = "国务院办公厅近日印发关于进一步优化政务服务的意见。", "意见提出，到二〇二五年底基本实现高频事项一网通办。"
    precise = "\n".join([a, b])
    estimate = "\n".join(["首页 > 新闻", a, "一、总体要求", b, "责任编辑：张三"])
    assert interior_fill(precise, estimate).split("\n") == [a, "一、总体要求", b]


def test_empty_or_single_line_texts_are_returned_as_given():
    assert interior_fill("", "a\nb\nc") == ""
    assert interior_fill(S1, "\n".join([S1, "x", S2])) == S1
    assert interior_fill(S1 + "\n" + S2, "") == S1 + "\n" + S2


def documentation_page() -> str:
    # trafilatura's precision mode drops <header> elements and bordered boxes inside the article: the
    # section headings and the code line of a documentation page
    return f"""<html><head><title>Manage resources</title></head><body>
<nav><ul><li><a href="/">Docs</a></li><li><a href="/api">API reference</a></li></ul></nav>
<main><article><h1>Manage resources</h1>
<p>{PARAGRAPHS[0]}</p>
<header><h2>Initialise the workspace</h2></header>
<p>{PARAGRAPHS[1]}</p>
<div style="border: 1px solid #ccc"><pre><code>terraform init -upgrade</code></pre></div>
<p>{PARAGRAPHS[2]}</p>
<header><h2>Inspect the state</h2></header>
<p>{PARAGRAPHS[3]}</p>
</article></main>
<footer><p>Copyright 2024 Example Corp. All rights reserved.</p></footer></body></html>"""


PARAGRAPHS = [
    "The configuration file lists every resource that the workspace manages, one block for each resource.",
    "Run the initialisation command once in a new directory so that the providers are downloaded first.",
    "Apply the configuration once the plan shows exactly the changes that you expect to see here.",
    "The state file records what was created, and later runs compare the configuration against it.",
]


def test_the_stage_puts_back_the_headings_and_code_precision_dropped_inside_the_article():
    pytest.importorskip("resiliparse")
    from tests.test_extract import extract_text

    filled, summary = extract_text(documentation_page(), isolate=False)
    bare, _ = extract_text(documentation_page(), isolate=False, fill_interior=False)
    assert summary["text_from"] == {"precision": 1}
    assert "Initialise the workspace" not in bare and "terraform init" not in bare
    assert filled.split("\n") == ["Manage resources", PARAGRAPHS[0], "Initialise the workspace", PARAGRAPHS[1],
                                  "terraform init -upgrade", PARAGRAPHS[2], "Inspect the state", PARAGRAPHS[3]]
