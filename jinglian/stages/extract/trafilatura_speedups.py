"""Cheaper trafilatura passes with the same output: how lxml evaluates trafilatura's own expressions.

A profile of the stage on the 1,868 genre pages (BENCHMARKS.md, extraction speed) puts
about a quarter of a trafilatura pass in XPath evaluation of its boilerplate
expressions and a few percent more in lxml.html's Python-level element class lookup.
Three changes cut that without changing a result:

1. trafilatura tests id and class attributes with EXSLT regular expressions
   (``re:test(@class, '...')``), which lxml runs as a Python callback for every
   candidate element, whether or not it has the attribute; and with lxml's default
   "smart strings" each attribute value handed to the callback first builds a
   Python proxy of its element. The expressions are recompiled with
   ``smart_strings=False`` (they return elements, which that option does not touch;
   the callback only reads the string) and each ``re:test(@a, 'R')`` becomes
   ``((@a) and re:test(@a, 'R'))`` where ``R`` cannot match the empty string: for
   an element without the attribute ``re:test`` tests ``''``, which such an ``R``
   never matches, so the guard changes no result and skips the callback.
2. lxml.html picks the Python class of every element proxy it creates in a Python
   method (``HtmlElementClassLookup.lookup``). trafilatura's parser gets lxml's C
   lookup by tag name with the same table instead: ``HtmlElement`` and friends,
   and lxml.html's form/input/select/textarea/label classes under every letter
   case of their names (the Python lookup lower-cases the name). The HTML parser
   creates no namespaced elements, the one case where the two could differ.

3. Expressions of the simplest shape, every descendant (of some tags) tested on its
   attribute strings, which covers the costliest ones (``OVERALL_DISCARD_XPATH``, the
   comment and body selectors), do not go through libxml2's XPath engine at all:
   ``xpath_selectors.py`` compiles them to a Python loop over lxml's C element
   iterator with the same result; the others stay XPath, guarded as in 1.

All three act on trafilatura's module-level objects in place, so they change trafilatura
for the whole process: the lists of ``trafilatura.xpaths`` (its other modules import
the same list objects), the single expressions with ``re:test`` that modules hold by
name (``BASIC_CLEAN_XPATH``, in ``settings`` and ``baseline``: the cleaning before
justext and the baseline, over every element of the page) and
``trafilatura.utils.HTML_PARSER``. The stage installs them
in the process that runs trafilatura (the isolated child by default); ``use(False)``
puts trafilatura back as shipped. Only trafilatura 2.x (the pinned range) is changed.
"""

from __future__ import annotations

import itertools
import re

REGEXP_NS = "http://exslt.org/regular-expressions"
# re:test whose first argument is an attribute node-set (@id, @class, @id|@class, ...), optional flags
_RE_TEST = re.compile(r"re:test\((@[\w-]+(?:\|@[\w-]+)*),\s*'([^']*)'(?:,\s*'([^']*)')?\)")

_shipped: dict[str, list] = {}  # name in trafilatura.xpaths -> the list's original XPath objects
_faster: dict[str, list] = {}  # the same, recompiled as above
_held: dict[tuple[str, str], object] = {}  # (module, name) -> a single XPath with re:test as shipped
_faster_held: dict[int, object] = {}  # id of such an XPath -> its recompiled form (one for all modules that hold it)
_state = {"on": False}


def guarded(path: str) -> str:
    """``path`` with every ``re:test(@a, 'R')`` whose ``R`` cannot match '' guarded by ``(@a) and``."""

    def guard(m: re.Match) -> str:
        attributes, pattern, flags = m.group(1), m.group(2), m.group(3) or ""
        if re.search(pattern, "", re.IGNORECASE if "i" in flags else 0):
            return m.group(0)  # an empty or missing attribute matches: the callback decides
        return f"(({attributes}) and {m.group(0)})"

    return _RE_TEST.sub(guard, path)


def _supported() -> bool:
    import trafilatura

    return trafilatura.__version__.split(".")[0] == "2"


def _expression_lists() -> dict[str, list]:
    import trafilatura.xpaths as X
    from lxml.etree import XPath

    # a list already swapped (it holds selectors now) is found by its name
    return {name: value for name, value in vars(X).items()
            if isinstance(value, list) and value and (name in _shipped or all(isinstance(e, XPath) for e in value))}


def _held_expressions() -> dict[tuple[str, str], object]:
    """(module, name) -> XPath with ``re:test`` held by name at module level in trafilatura, as shipped."""
    import sys

    from lxml.etree import XPath

    found = dict(_held)
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] != "trafilatura" or module is None:
            continue
        for name, value in vars(module).items():
            if isinstance(value, XPath) and "re:test(" in value.path and (module_name, name) not in found:
                found[module_name, name] = value
    return found


def _faster_expression(expression):
    """The expression as a Python selector where its shape allows (xpath_selectors.py), else guarded as above."""
    from lxml.etree import XPath

    from jinglian.stages.extract.xpath_selectors import Unsupported, compile_selector

    try:
        return compile_selector(expression.path)
    except Unsupported:
        return XPath(guarded(expression.path), namespaces={"re": REGEXP_NS}, smart_strings=False)


def _class_lookup():
    """lxml's C lookup by tag name, giving the classes lxml.html's Python lookup gives."""
    from lxml import etree, html

    fallback = etree.ElementDefaultClassLookup(element=html.HtmlElement, comment=html.HtmlComment,
                                               pi=html.HtmlProcessingInstruction, entity=html.HtmlEntity)
    lookup = etree.ElementNamespaceClassLookup(fallback)
    by_name = lookup.get_namespace(None)
    for name, cls in html.HtmlElementClassLookup._default_element_classes.items():
        for letters in itertools.product(*({c.lower(), c.upper()} for c in name)):
            by_name["".join(letters)] = cls
    return lookup


def use(on: bool) -> None:
    """Installs the speed-ups (``on``) or puts trafilatura back as shipped; cheap when nothing changes."""
    if on == _state["on"] or (on and not _supported()):
        return
    import sys

    from lxml import html
    from trafilatura.utils import HTML_PARSER

    import trafilatura.baseline  # noqa: F401 - holds BASIC_CLEAN_XPATH by name: loaded before the scan below

    for name, expressions in _expression_lists().items():
        shipped = _shipped.setdefault(name, list(expressions))
        if on and name not in _faster:
            _faster[name] = [_faster_expression(e) for e in shipped]
        expressions[:] = _faster[name] if on else shipped
    if on:
        _held.update(_held_expressions())
    for (module_name, name), shipped in _held.items():
        if on and id(shipped) not in _faster_held:
            _faster_held[id(shipped)] = _faster_expression(shipped)
        setattr(sys.modules[module_name], name, _faster_held[id(shipped)] if on else shipped)
    HTML_PARSER.set_element_class_lookup(_class_lookup() if on else html.HtmlElementClassLookup())
    _state["on"] = on


def installed() -> bool:
    return _state["on"]
