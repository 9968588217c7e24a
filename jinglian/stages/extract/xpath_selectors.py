"""trafilatura's element-selecting XPath expressions as Python over lxml's element iterators, same result.

libxml2 walks ``.//*[self::div or ...][predicate]`` one node at a time through its
generic XPath machinery, building a node-set for every step and predicate: on the
genre pages that walk costs several times what lxml's C iterator
(``iterdescendants(tags)``) takes to visit the same elements, before any
``re:test`` callback runs. Most of trafilatura's boilerplate expressions are of one
simple shape: every descendant element (of some tag names), tested against
attribute strings. :func:`compile_selector` turns exactly that shape into a Python
function with the result XPath gives (the matching descendants in document order);
anything outside the grammar below raises :class:`Unsupported`, and the caller
keeps the XPath expression.

Grammar: ``.//*`` or ``.//TAG`` (``//``: from the document's root), then predicates ``[P]``, optionally wrapped as
``(…)[1]`` (the first match). ``P``: ``or``, ``and``, ``not(P)``, ``(P)``,
``self::TAG``, ``.//TAG`` (a descendant of that tag exists), ``@a`` (exists),
``@a='v'``, ``contains(S, 'v')``, ``starts-with(S, 'v')``, ``re:test(S, 'R'[, 'flags'])``
with ``S`` an attribute union ``@a|@b`` or ``translate(S, 'from', 'to')``.

XPath 1.0 semantics kept: an attribute union's string value is the value of the
first attribute in document order (libxml2 orders the attributes of one element as
they stand in the element, as ``el.attrib`` lists them), '' when none is present;
``@a|@b='v'`` holds when any of them equals ``v``; ``re:test`` is lxml's EXSLT
function, Python's ``re.search`` on that string value (``i`` in the flags: ignore case).
"""

from __future__ import annotations

import re

from lxml import etree


class Unsupported(ValueError):
    """The expression is outside the grammar this module compiles."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'[^']*'|"[^"]*")
  | (?P<descendant>\.//)
  | (?P<absolute>//)
  | (?P<axis>self::)
  | (?P<number>\d+)
  | (?P<name>[A-Za-z_][\w.-]*(?::[A-Za-z_][\w-]*)?)
  | (?P<punct>[\[\]()@|,=*])
)""", re.VERBOSE)


def _tokens(path: str) -> list[tuple[str, str]]:
    out, pos, path = [], 0, path.strip()
    while pos < len(path):
        m = _TOKEN.match(path, pos)  # leading spaces, then one token
        if not m:
            raise Unsupported(f"cannot read {path[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def attribute_string(attributes: dict, names: frozenset) -> str:
    """The XPath string value of an attribute union (``@a|@b``) on an element with ``attributes`` (in its order)."""
    for name, value in attributes.items():
        if name in names:
            return value
    return ""


class _Parser:
    """Recursive descent over the tokens of one predicate, producing Python source."""

    def __init__(self, tokens: list[tuple[str, str]], constants: dict):
        self.tokens, self.i, self.constants = tokens, 0, constants
        self.structural = False  # refers to the element itself (self::, .//), not only its attributes

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise Unsupported(f"expected {value or kind}, found {tok}")
        self.i += 1
        return tok[1]

    def constant(self, value) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def expr(self) -> str:
        return self._chain("or", self.conjunction)

    def conjunction(self) -> str:
        return self._chain("and", self.unary)

    def _chain(self, word: str, operand) -> str:
        """``operand (word operand)*``: Python's ``and``/``or`` bind as XPath's do (``and`` tighter)."""
        parts = [operand()]
        while self.peek() == ("name", word):
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"

    def unary(self) -> str:
        tok = self.peek()
        if tok == ("punct", "("):
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if tok == ("name", "not") and self.peek(1) == ("punct", "("):
            self.take()
            self.take("(")
            inner = self.expr()
            self.take(")")
            return f"(not {inner})"
        if tok == ("axis", "self::"):
            self.take()
            self.structural = True
            return f"(el.tag == {self.take(kind='name')!r})"
        if tok == ("descendant", ".//"):
            self.take()
            self.structural = True
            return f"(next(el.iterdescendants({self.take(kind='name')!r}), None) is not None)"
        if tok == ("punct", "@"):
            names = self.attributes()
            if self.peek() == ("punct", "="):
                self.take()
                value = self.string()
                return "(" + " or ".join(f"a.get({n!r}) == {value!r}" for n in names) + ")"
            return "(" + " or ".join(f"{n!r} in a" for n in names) + ")"
        if tok and tok[0] == "name":
            return self.function()
        raise Unsupported(f"unexpected {tok}")

    def attributes(self) -> tuple[str, ...]:
        names = []
        while True:
            self.take("@")
            name = self.take(kind="name")
            if ":" in name:
                raise Unsupported("namespaced attribute")
            names.append(name)
            if self.peek() == ("punct", "|") and self.peek(1) == ("punct", "@"):
                self.take()
                continue
            return tuple(names)

    def string(self) -> str:
        return self.take(kind="string")[1:-1]

    def string_argument(self) -> str:
        """Source for the string value of an attribute union, or of translate() over one."""
        if self.peek() == ("punct", "@"):
            names = self.attributes()
            if len(names) == 1:
                return f"a.get({names[0]!r}, '')"
            return f"_attr(a, {self.constant(frozenset(names))})"
        if self.peek() == ("name", "translate"):
            self.take()
            self.take("(")
            inner = self.string_argument()
            self.take(",")
            source = self.string()
            self.take(",")
            target = self.string()
            self.take(")")
            return f"{inner}.translate({self.constant(_translation(source, target))})"
        raise Unsupported(f"unexpected argument {self.peek()}")

    def function(self) -> str:
        name = self.take(kind="name")
        self.take("(")
        subject = self.string_argument()
        self.take(",")
        pattern = self.string()
        flags = ""
        if name == "re:test" and self.peek() == ("punct", ","):
            self.take()
            flags = self.string()
        self.take(")")
        if name == "contains":
            return f"({pattern!r} in {subject})"
        if name == "starts-with":
            return f"{subject}.startswith({pattern!r})"
        if name == "re:test":
            compiled = re.compile(pattern, re.UNICODE | (re.IGNORECASE if "i" in flags else 0))
            return f"({self.constant(compiled.search)}({subject}) is not None)"
        raise Unsupported(f"function {name}")

    def done(self) -> bool:
        return self.i == len(self.tokens)


def _translation(source: str, target: str) -> dict:
    """XPath translate(): characters of ``source`` map to the same position of ``target``, or are removed."""
    table: dict[int, int | None] = {}
    for k, c in enumerate(source):
        table.setdefault(ord(c), ord(target[k]) if k < len(target) else None)
    return table


def _split_predicates(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """``[P1][P2]…`` -> the token lists of P1, P2, …"""
    out, depth, current = [], 0, None
    for tok in tokens:
        if tok == ("punct", "[") and depth == 0:
            current = []
            depth = 1
            continue
        if current is None:
            raise Unsupported(f"expected '[', found {tok}")
        if tok == ("punct", "["):
            depth += 1
        elif tok == ("punct", "]"):
            depth -= 1
            if depth == 0:
                out.append(current)
                current = None
                continue
        current.append(tok)
    if current is not None:
        raise Unsupported("unclosed predicate")
    return out


def _tag_test(tokens: list[tuple[str, str]]) -> tuple[str, ...] | None:
    """The tag names of a predicate that is ``self::a or self::b or …`` and nothing else."""
    names = []
    for k, tok in enumerate(tokens):
        if k % 3 == 0 and tok != ("axis", "self::"):
            return None
        if k % 3 == 1:
            if tok[0] != "name":
                return None
            names.append(tok[1])
        if k % 3 == 2 and tok != ("name", "or"):
            return None
    return tuple(names) if len(tokens) % 3 == 2 else None


class Selector:
    """A compiled expression: ``selector(el)`` gives the list XPath gives (elements, document order)."""

    def __init__(self, path: str, select):
        self.path = path  # the XPath source, as lxml's XPath objects carry it
        self._select = select

    def __call__(self, el) -> list:
        return self._select(el)

    def __repr__(self) -> str:
        return f"Selector({' '.join(self.path.split())[:60]!r}...)"


def compile_selector(path: str) -> Selector:
    """``path`` as a :class:`Selector`; raises :class:`Unsupported` outside the grammar of the module docstring."""
    tokens = _tokens(path)
    first_only = False
    if tokens[:1] == [("punct", "(")] and tokens[-4:-3] == [("punct", ")")] and tokens[-3:] == [
            ("punct", "["), ("number", "1"), ("punct", "]")]:
        tokens, first_only = tokens[1:-4], True
    if not tokens or tokens[0] not in (("descendant", ".//"), ("absolute", "//")) or len(tokens) < 2:
        raise Unsupported("not a descendant selection")
    # "//": every element of the context's document, its root element included
    elements = ("context.getroottree().getroot().iter(*_tags)" if tokens[0][0] == "absolute"
                else "context.iterdescendants(*_tags)")
    head = tokens[1]
    if head == ("punct", "*"):
        tags: tuple = (etree.Element,)
    elif head[0] == "name" and ":" not in head[1]:
        tags = (head[1],)
    else:
        raise Unsupported(f"node test {head}")
    predicates = _split_predicates(tokens[2:])
    if head == ("punct", "*") and predicates and (names := _tag_test(predicates[0])):
        tags, predicates = names, predicates[1:]
    constants = {"_attr": attribute_string, "_tags": tags}
    sources, structural = [], False
    for predicate in predicates:
        parser = _Parser(predicate, constants)
        sources.append(parser.expr())
        structural |= parser.structural
        if not parser.done():
            raise Unsupported(f"trailing {parser.peek()}")
    test = " and ".join(sources) or "True"

    def keep(indent: str) -> str:  # the generated lines that keep a match
        return f"{indent}found.append(el)\n" + (f"{indent}break\n" if first_only else "")

    # one generated loop (no call per element): the test reads a dict of the element's attributes (one C call
    # for all of them instead of one per name); an element without attributes, most of a page, gets the test's
    # value on none, computed once (unless the test looks at the element itself)
    code = f"def _select(context):\n    found = []\n    for el in {elements}:\n        items = el.items()\n"
    if not structural:
        code += "        if not items:\n            if _bare:\n" + keep(" " * 16) + "            continue\n"
    code += f"        a = dict(items)\n        if {test}:\n" + keep(" " * 12) + "    return found\n"
    if not structural:
        el, a = None, {}  # noqa: F841 - the names the test reads
        constants["_bare"] = bool(eval(test, constants, {"el": el, "a": a}))  # noqa: S307 - our own generated source
    exec(compile(code, f"<selector {path[:40]!r}>", "exec"), constants)  # noqa: S102 - our own generated source
    return Selector(path, constants["_select"])
