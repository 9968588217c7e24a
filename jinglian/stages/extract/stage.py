"""``extract`` stage: raw page bytes -> main text with trafilatura, plus title/date/url.

Input rows carry ``content`` (bytes from a WARC/ARC/HTML reader or the
crawler) and optionally ``content_type``/``charset`` (as columns or inside
``metadata``). Rows that already have text and no content (WET, JSONL) pass
through untouched.

Defaults were chosen by measurement (BENCHMARKS.md, extraction):
``favor_precision`` without comments beats trafilatura's defaults on article
pages, but drops the posts of forums, listings and product pages; with
``decide`` on, each page whose precision text falls short of resiliparse's
main-content estimate gets a broader extraction instead (``decide.py``).
Skipping htmldate's extensive (dateparser) search removes the slowest step on
some Chinese pages, where it finds the same date. trafilatura's own XPath
expressions and element lookups run through ``trafilatura_speedups.py`` (same
output, about a quarter less CPU; BENCHMARKS.md, extraction speed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.extract.charset import decode_html
from jinglian.stages.extract.decide import PRECISION, SHORT, drop_repeated_lines, long_enough, main_content_estimate, pick_short, verdict
from jinglian.stages.extract.interior_fill import interior_fill, link_paragraphs
from jinglian.stages.extract.navigation import drop_navigation_tables
from jinglian.stages.extract import trafilatura_speedups
from jinglian.stages.extract.isolated import CallFailed, CallTimeout, IsolatedCall

# short enough to send trafilatura through its justext fallback, whose stop lists load on first use (~1 s)
_WARMUP_PAGE = "<html><head><title>t</title></head><body><div><p>热身 warm-up</p></div></body></html>"
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


@dataclass(frozen=True)
class ExtractParams:
    timeout_s: float = 10.0  # per-document limit; a page over it is rejected as extract:timeout
    max_bytes: int = 5_000_000  # larger pages are rejected as extract:too_large (never parsed)
    min_chars: int = 1  # extracted text shorter than this (stripped) is rejected as extract:no_text
    favor_precision: bool = True  # trafilatura: prefer dropping boilerplate over keeping marginal text
    favor_recall: bool = False  # trafilatura: keep more marginal text (do not combine with favor_precision)
    include_comments: bool = False  # keep user comments below an article
    include_tables: bool = True  # keep the text of tables
    drop_navigation_tables: bool = True  # tables made of short link labels (site menus of table-layout pages) out before extraction
    decide: bool = True  # per page: precision first, trafilatura defaults / resiliparse when precision came up short (needs favor_precision)
    fill_interior: bool = True  # with decide: lines of resiliparse's estimate that precision dropped between sentences both keep go back in (interior_fill.py)
    date_extensive_search: bool = False  # htmldate's dateparser fallback: finds a few more dates, costs up to ~10 s on some pages
    isolate: bool = True  # run trafilatura in a child process so timeout_s can be enforced
    speedups: bool = True  # lxml speed-ups for trafilatura's own expressions, same output (trafilatura_speedups.py); False: as shipped
    keep_content: bool = False  # keep the raw bytes column (otherwise emptied to save space)
    plain_types: list[str] = field(default_factory=lambda: ["text/plain"])  # content types used as text as-is


def parse_page(html: str):
    """``(html, tree)``: the page as every pass reads it, and trafilatura's tree of it (None: not HTML)."""
    from trafilatura import load_html

    tree = load_html(html)
    if tree is None and "<" in html:
        # trafilatura refuses markup that does not name "html" in its first 50 characters and parses
        # to a single element (a page fragment, or a page inside an archive's wrapper element such as
        # <text id=url>); inside a body element the same markup parses
        html = f"<html><body>{html}</body></html>"
        tree = load_html(html)
    return html, tree


def extract_page(html: str, url: str | None, params: ExtractParams) -> dict | None:
    """trafilatura on one decoded page: ``{text, title, date, source}`` or None (runs in the child process).

    Only the title and the date are looked for, not trafilatura's full metadata
    (authors, categories, tags, licence...), which costs a quarter to a third of
    the extraction time and is not kept.
    """
    from datetime import datetime

    import trafilatura
    from htmldate import find_date
    from trafilatura.metadata import extract_title  # no public API gives the title alone (extract_metadata does all)

    trafilatura_speedups.use(params.speedups)
    decide = params.decide and params.favor_precision
    html, tree = parse_page(html)
    if tree is None:
        return None
    title = extract_title(tree)  # from the page as parsed, navigation tables included
    # htmldate with the parameters trafilatura's own metadata pass uses: publication date, none after today
    date = find_date(tree, url=url, original_date=True, extensive_search=params.date_extensive_search,
                     max_date=datetime.now().astimezone().strftime("%Y-%m-%d"))
    if params.drop_navigation_tables:
        drop_navigation_tables(tree)
    # every pass reads this one tree (the page less its navigation tables): trafilatura 2 works on a copy of a
    # tree it is given (test_trafilatura_leaves_the_tree_it_is_given_unchanged), and extract_title and find_date
    # do not change it, so the passes need neither a copy of their own nor a re-parse of the page
    doc = trafilatura.bare_extraction(tree, url=url, favor_precision=params.favor_precision,
                                      favor_recall=params.favor_recall, include_comments=params.include_comments,
                                      include_tables=params.include_tables)
    text, source = (doc.text or "") if doc is not None else "", "precision"
    if decide:
        estimate = main_content_estimate(html)
        choice = verdict(text, estimate)
        if choice == PRECISION and params.fill_interior:
            # precision drew the span; its dropped headings, code, feature lines go back in (not link teasers)
            text = interior_fill(text, estimate, lambda: link_paragraphs(tree))
        if choice != PRECISION:

            def defaults(comments: bool) -> str:
                return trafilatura.extract(tree, url=url, include_comments=comments) or ""

            comments = params.include_comments
            text, source = defaults(comments), "default"
            if choice == SHORT and not long_enough(text, estimate):
                # in comment-like containers (forum posts, reader comments), or missed by trafilatura altogether?
                text, source = pick_short(text, text if comments else defaults(True), estimate)
            text = drop_repeated_lines(text)
    if doc is None and not text:
        return None
    return {"text": text, "title": title, "date": date, "source": source}


def _field(batch: pa.Table, name: str) -> list:
    """A column, or the same key from the JSON ``metadata`` column, or all None."""
    if name in batch.column_names:
        return batch[name].to_pylist()
    if D.METADATA in batch.column_names:
        out = []
        for m in batch[D.METADATA].to_pylist():
            try:
                out.append(json.loads(m).get(name) if m else None)
            except (ValueError, AttributeError):
                out.append(None)
        return out
    return [None] * len(batch)


class ExtractStage(Stage):
    name = "extract"
    Params = ExtractParams

    def setup(self) -> None:
        # the child process receives the params themselves (a frozen dataclass pickles as a dict does)
        warmup = (_WARMUP_PAGE, None, self.params)
        self._isolated = IsolatedCall("jinglian.stages.extract.stage:extract_page", warmup) if self.params.isolate else None

    def _extract(self, html: str, url: str | None) -> dict | None:
        if self._isolated is None:
            return extract_page(html, url, self.params)
        return self._isolated.call(self.params.timeout_s, html, url, self.params)

    def process(self, batch: pa.Table) -> pa.Table:
        n = len(batch)
        if "content" not in batch.column_names:
            return batch
        contents = batch["content"].to_pylist()
        texts = batch[D.TEXT].to_pylist() if D.TEXT in batch.column_names else [None] * n
        urls = _field(batch, "url")
        types = _field(batch, "content_type")
        declared = _field(batch, "charset")
        titles, dates, used = [None] * n, [None] * n, [None] * n
        reasons: list[str | None] = [None] * n
        values = [None] * n
        errors: list[str | None] = [None] * n
        for i, content in enumerate(contents):
            if content is None:
                if not (texts[i] or "").strip():
                    reasons[i], values[i] = "extract:no_text", 0.0
                continue
            if len(content) > self.params.max_bytes:
                reasons[i], values[i] = "extract:too_large", float(len(content))
                continue
            mime = (types[i] or "").lower()
            if mime and mime not in HTML_TYPES and mime not in self.params.plain_types:
                reasons[i], values[i] = "extract:content_type", None
                continue
            html, codec, how = decode_html(content, declared[i])
            used[i] = codec
            self.count("charset_from", how)
            if mime in self.params.plain_types:
                texts[i] = html.strip()
            else:
                try:
                    result = self._extract(html, urls[i])
                except CallTimeout:
                    reasons[i], values[i] = "extract:timeout", float(self.params.timeout_s)
                    continue
                except CallFailed as exc:
                    errors[i] = f"extract: {exc}"
                    continue
                texts[i] = result["text"].strip() if result else ""
                if result:
                    titles[i], dates[i] = result["title"], result["date"]
                    self.count("text_from", result["source"])
            if len(texts[i]) < self.params.min_chars:
                reasons[i], values[i] = "extract:no_text", float(len(texts[i]))
        out = D.set_column(batch, D.TEXT, pa.array([t or "" for t in texts], pa.string()))
        for name, col in (("title", titles), ("date", dates), ("url", urls), ("html_charset", used)):
            out = D.set_column(out, name, pa.array(col, pa.string()))
        if not self.params.keep_content:
            out = D.set_column(out, "content", pa.nulls(n, out["content"].type))
        out = D.with_verdict_columns(out)
        for reason in sorted({r for r in reasons if r}):
            mask = np.array([r == reason for r in reasons])
            out = D.reject(out, mask, reason, [v if v is not None else np.nan for v in values])
        failed = np.array([e is not None for e in errors])
        if failed.any():
            out = D.fail(out, failed, errors)
        return out

    def counters(self) -> dict:
        return {"charset_from": {}, "text_from": {}}
