"""xpath_selectors: trafilatura's XPath expressions compiled to Python select exactly what lxml's XPath selects."""

from __future__ import annotations

import random

import pytest
from lxml import etree
from lxml.etree import XPath

from jinglian.stages.extract.xpath_selectors import Unsupported, compile_selector

REGEXP_NS = {"re": "http://exslt.org/regular-expressions"}

# attribute values chosen to hit (and just miss) trafilatura's patterns: anchors, case, separators, empty values
VALUES = ["", "nav", "Nav", "navbar main", "main-nav", "share-buttons", "Share", "comment", "comments", "Comment",
          "commentary", "comment-list", "comments-title", "reply-3", "x reply-3", "hidden", "is hidden", "hide-me",
          "display:none", "display: none", "color: red", "border: 1px", "bottom", "bottom x", "xbottom", "link",
          "a link b", "Teaser", "teaser-box", "caption", "post-content", "content", "Main-Content", "page-Content",
          "main", "story-body", "FullText", "article ", "true", "false", "ad-top", "x ad-y", "cookie", "COOKIE-bar",
          "disqus_thread", "respond", "social", "mvp-post-add-box", "infinite-scroll", "elementor-share-buttons",
          "author", "ProductReviews", "meta-date", "signin", "akismet", "entry", "post", "articleBody"]
ATTRIBUTES = ["id", "class", "style", "role", "aria-hidden", "itemprop", "data-component", "data-lp-replacement-content"]
TAGS = ["div", "section", "span", "p", "article", "main", "aside", "ul", "ol", "li", "list", "item", "details",
        "header", "h1", "cite", "quote", "a", "table", "td"]


def random_tree(rng: random.Random, size: int = 60):
    root = etree.Element("html")
    body = etree.SubElement(root, "body")
    nodes = [body]
    for _ in range(size):
        parent = rng.choice(nodes)
        if rng.random() < 0.05:
            parent.append(etree.Comment("c"))
            continue
        el = etree.SubElement(parent, rng.choice(TAGS))
        for name in rng.sample(ATTRIBUTES, rng.randint(0, 3)):  # random attribute order: id before class and after
            el.set(name, rng.choice(VALUES))
        el.text = rng.choice(["", "t", None])
        nodes.append(el)
    return root


def trafilatura_expressions() -> dict[str, XPath]:
    import trafilatura.settings
    import trafilatura.xpaths as X

    from jinglian.stages.extract import trafilatura_speedups as speedups

    speedups.use(False)  # the expressions as shipped
    found = {f"{name}[{i}]": e for name, value in vars(X).items()
             if isinstance(value, list) and value and all(isinstance(e, XPath) for e in value)
             for i, e in enumerate(value)}
    found["BASIC_CLEAN_XPATH"] = trafilatura.settings.BASIC_CLEAN_XPATH
    return found


def test_every_compiled_trafilatura_expression_selects_what_its_xpath_selects():
    expressions = trafilatura_expressions()
    compiled = {}
    for name, expression in expressions.items():
        try:
            compiled[name] = compile_selector(expression.path)
        except Unsupported:
            continue
    # the expressions that cost the most on the genre pages are of the compiled shape
    assert {"OVERALL_DISCARD_XPATH[0]", "OVERALL_DISCARD_XPATH[1]", "REMOVE_COMMENTS_AND_LISTS_XPATH[0]",
            "RAW_TREE_PRUNE_XPATH[0]", "PRECISION_DISCARD_XPATH[1]", "COMMENTS_XPATH[0]",
            "TITLE_XPATHS[0]"} <= set(compiled)
    rng = random.Random(20261130)
    selected = 0
    for _ in range(300):
        tree = random_tree(rng)
        context = tree if rng.random() < 0.5 else tree[0]  # the page, or a subtree
        for name, selector in compiled.items():
            expected = expressions[name](context)
            assert selector(context) == expected, name
            selected += len(expected)
    assert selected > 1000  # the random pages do hit the patterns


def test_union_string_value_is_the_first_attribute_in_the_element():
    select = compile_selector(".//*[starts-with(@id|@class, 'x')]")
    xpath = XPath(".//*[starts-with(@id|@class, 'x')]")
    tree = etree.fromstring("<r><a class='x1' id='y'/><b id='y' class='x1'/><c class='x2'/><d/></r>")
    assert [e.tag for e in select(tree)] == [e.tag for e in xpath(tree)] == ["a", "c"]


def test_grammar_pieces_match_xpath():
    tree = etree.fromstring(
        "<r><div class='Nav'><h1/></div><div class='nav' data-x=''/><section role='NVA'/><p style='a'/>"
        "<div id='q' class='z'><span/></div><span class='ABC'/></r>")
    for path in [".//*[self::div or self::section][contains(translate(@class, 'N', 'n'), 'nav')]",
                 ".//*[contains(translate(@role, 'NAVI', 'na'), 'na')]",  # shorter target: I is removed
                 ".//div[not(.//h1) or @data-x]",
                 ".//*[@data-x]",
                 ".//*[@class='z' and not(self::span)]",
                 ".//*[re:test(@class, 'abc', 'i')]",
                 "(.//*[self::div or self::span][@class])[1]",
                 ".//span",
                 "//*[self::r or self::span][not(@class='z')]",  # from the document's root, the root included
                 "(//div[@class])[1]"]:
        for context in (tree, tree[4]):  # the root, and an element below it
            assert compile_selector(path)(context) == XPath(path, namespaces=REGEXP_NS)(context), path


@pytest.mark.parametrize("path", [
    ".//*[self::div][@class][1]",  # a position inside the step: first per parent, not first overall
    "//div//a[@href]",  # a path of two steps
    ".//cite|.//quote",  # union
    ".//*[string-length(@class) > 3]",  # function outside the grammar
    ".//*[@class != 'x']",
])
def test_shapes_outside_the_grammar_are_refused(path):
    with pytest.raises(Unsupported):
        compile_selector(path)
