"""The ``clean_lines`` stage: cut page furniture out of a document, line by line, before it is judged.

C4, RefinedWeb and MAP-CC clean lines before they judge documents: a news page
is not junk because its extractor left "分享到 微信 微博" or "京ICP备…号" in, and a
document-level rule that counts such lines punishes the article for its page.
This stage removes lines that are furniture on any page and never prose:

- ``navigation``: breadcrumbs ("当前位置：首页 > 新闻"), menu rows and layout-table rows
  of short labels ("首页 | 新闻 | 体育 | 财经"), pager and prev/next links ("上一篇：…"),
  related-article links: a list item that is a title with its date ("- 某某新闻标题 01/17 02:00",
  "- 01/12 01:30 某某新闻标题", "- 某某会议召开(2006-12-16)");
  in the tables of table-layout pages, furniture cells are cut from their row (counted as
  ``<kind>_cell``) and rows left with only empty cells go;
- ``read_more``: "阅读全文", "展开全文", "read more" links (a standalone link line is cut;
  the link text at the end of a teaser line is cut from the line, counted as ``read_more_tail``),
  and comment counters glued to a finished sentence ("……来到对面。37", ``counter_tail``);
- ``copyright``: ICP/公安 registration numbers, "版权所有", "©", "All rights reserved" footers;
- ``share``: share-button residue ("分享到：微信 微博 QQ空间", "转发 评论 赞");
- ``disclaimer``: a portal's reprint disclaimer ("转载并不代表本网赞同其观点", "出于传递更多信息之目的",
  "如涉及版权问题，请与本网联系"), when the wording opens the line (within its first 40 characters,
  after a label such as "声明：" or "• 凡注明…"); the same words later in a paragraph are the
  author's and stay. No line of zh-genres-clean, zh-laws, zh-wiki, CLUECorpusSmall or d2l is cut;
- ``encoding_damage``: lines garbled by a wrong decoding, when the damage is local
  (when it is widespread the ``encoding`` rule of ``filter`` rejects the document);
- ``numeric``: whole lines of digits and symbols only: counters, cut-off timestamps, the date
  and masked IP above each comment ("- 2012/01/16 12:13 219.8*****137"); list numbers and
  formulas stay, and so do numbers in table cells (data).

A line must be short and made of labels to count as navigation or share residue,
so clean prose is not cut (BENCHMARKS.md "Genres" counts the lines removed per
genre of clean Chinese). Each document gets two columns, ``lines_removed`` and
``chars_removed``; the totals, per kind, land in stats.json through
:meth:`counters`. A document left with no text is rejected as
``clean_lines:empty`` (nothing is dropped silently). Use it right before
``filter``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage
from jinglian.stages.filter import encoding
from jinglian.stages.filter.chinese import is_numeric_furniture
from jinglian.stages.filter.text_stats import EMOTICON_RE

KINDS = ("navigation", "read_more", "copyright", "share", "disclaimer", "encoding_damage", "numeric")
TABLE_ROW_RE = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
TABLE_RULE_RE = re.compile(r"[-:= ]+")  # the |---|:---| line under a Markdown table's header

# Separators of menu items and breadcrumbs; "·" only with spaces around it (卡尔·马克思 is a name).
NAV_SPLIT_RE = re.compile(r"\s*[|｜>»›→]+\s*|\s+·\s+|\s{2,}|\t")
BREADCRUMB_RE = re.compile(r"^(当前位置|您的位置|你的位置|您现在的位置|所在位置|当前页面)\s*[:：]")
# "上一篇：<title>" links; without the colon "上一章我们讲到……" is prose.
PAGER_RE = re.compile(r"^(上一篇|下一篇|上一页|下一页|上一章|下一章|前一篇|后一篇)\s*[:：]")
# Whole-line link labels of page chrome (compared after brackets and spaces are stripped).
NAV_LABELS = frozenset((
    "首页", "返回首页", "回到首页", "网站首页", "返回顶部", "回到顶部", "返回", "返回列表", "返回目录",
    "打印", "打印本页", "打印此文", "关闭", "关闭窗口", "收藏本页", "加入收藏", "设为首页", "上一页", "下一页",
    "上一篇", "下一篇", "首页上一页", "下一页尾页", "尾页", "更多", "更多>>", "查看更多", "点击查看", "网站地图",
    "联系我们", "关于我们", "免责声明", "隐私政策", "意见反馈", "登录", "注册", "登录注册", "免费注册",
    "top", "home", "back to top",
))
LABEL_STRIP = " \t【】[]()（）<>《》〈〉「」·•|｜:：>»›→←"
TERMINAL = ("。", "！", "？", "；", "!", "?", ";", "…")
READ_MORE_RE = re.compile(
    r"(阅读全文|展开全文|查看全文|阅读更多|查看更多|显示全文|全文阅读|点击阅读全文|点击查看全文|继续阅读|展开阅读全文|"
    r"read more|continue reading)\s*[>》»→.…。]*$", re.IGNORECASE)
COPYRIGHT_RE = re.compile(
    r"ICP\s*[备证]|ICP\s*[:：]?\s*\d|公网安备|网安备\s*\d|增值电信业务经营许可证|版权所有|©|copyright\s*(©|\(c\)|\d{4})|"
    r"all rights reserved|未经.{0,6}(授权|许可|同意).{0,8}(不得|禁止|严禁)(转载|复制|使用)|转载请注明出处",
    re.IGNORECASE)
SHARE_TOKENS = ("一键分享", "分享到", "分享至", "分享给", "分享", "新浪微博", "腾讯微博", "微博", "微信好友", "朋友圈", "微信",
                "QQ空间", "QQ好友", "腾讯QQ", "QQ", "人人网", "开心网", "豆瓣网", "豆瓣", "百度贴吧", "贴吧", "复制链接",
                "复制网址", "扫一扫", "二维码", "收藏", "点赞", "赞", "转发", "评论", "举报", "打印", "字号", "facebook",
                "twitter", "linkedin", "whatsapp", "email")
SHARE_RE = re.compile("|".join(re.escape(t) for t in SHARE_TOKENS), re.IGNORECASE)
FILLER_RE = re.compile(r"[\s\d\W_]+")
# A count glued to the end of a finished sentence: the per-paragraph comment counters of novel and forum pages.
COUNTER_TAIL_RE = re.compile(r"[。！？”」』](\d{1,4})$")
# Reprint disclaimers of news portals: the site does not endorse what it reprints, reprints to pass information on,
# does not vouch for it, asks rights holders to get in touch; and the financial pages' "not investment advice".
DISCLAIMER_RE = re.compile(
    r"不代表本(网|站|报|刊|台|平台|号|公众号)(的)?(赞同|观点|立场)|传[递播]更多(的)?信息|不(意味着|表明)(赞同|证实)|"
    r"(版权|侵权)(等)?(问题|争议|行为)?.{0,12}[请速].{0,6}(联系|删除)|不构成(任何)?投资建议")
# The disclaimer must open the line (its label "声明：", "• 凡注明…" before it): one sentence of that kind at the
# end of a paragraph is the author's. Disclaimers run to two or three sentences; longer lines are prose.
MAX_DISCLAIMER_START = 40
MAX_DISCLAIMER_CHARS = 300
# A link to another article in a "相关新闻"/"热点" list: a bulleted title with its publication date before or after
# it. The date is a full date, a month/day with a time, or a bracketed month/day ("1-2 个鸡蛋", "2.5 kg" are not dates);
# the title holds no sentence end. 0 lines of zh-genres-clean, laws, zh-wiki, CLUECorpusSmall, CCNet and d2l match.
# Before the title the date carries a time ("01/12 01:30"): a timeline's "2011-03-11 日本发生地震" is not a link.
LINK_DATE = r"(?:\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:\s+\d{1,2}:\d{2})?|\d{1,2}[-/]\d{1,2}\s+\d{1,2}:\d{2}|[(（]\d{1,2}[-/]\d{1,2}[)）])"
LINK_TIME = r"(?:\d{4}[-/])?\d{1,2}[-/]\d{1,2}\s+\d{1,2}:\d{2}"
DATED_LINK_ITEM_RE = re.compile(
    rf"[-*•·●]\s*(?:{LINK_TIME}\s*\S[^。！？]*|[^。！？]*\S\s*[(（\[]?{LINK_DATE}[)）\]]?)")
MAX_LINK_ITEM_CHARS = 80
MAX_FURNITURE_CHARS = 60  # a navigation/share/pager line is short; longer lines are prose
MAX_LABEL_CHARS = 12  # one menu item or table cell of a layout row
MAX_COPYRIGHT_CHARS = 160  # footers carry an address and a phone number; longer lines are prose about copyright


@dataclass
class CleanLinesParams:
    # Kinds of lines removed (all by default; see KINDS).
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    # Damaged lines are cut only while they are at most this share of the document's characters; above it the
    # damage is widespread and the document is left whole for the filter's ``encoding`` rule to reject.
    max_damage_cut_share: float = 0.2


class Cleaned(NamedTuple):
    text: str
    lines_removed: int
    chars_removed: int
    by_kind: dict


def _is_navigation(line: str) -> bool:
    if len(line) > MAX_FURNITURE_CHARS * 2:
        return False
    if line.lower().strip(LABEL_STRIP) in NAV_LABELS:
        return True
    if len(line) <= MAX_FURNITURE_CHARS and (BREADCRUMB_RE.match(line) or PAGER_RE.match(line)):
        return True
    if len(line) <= MAX_LINK_ITEM_CHARS and DATED_LINK_ITEM_RE.fullmatch(line) and any(c.isalpha() for c in line):
        return True  # (a date and a masked IP without a word is a comment's header: ``numeric``)
    if line.endswith(TERMINAL):
        return False
    items = [x for x in (s.strip(LABEL_STRIP) for s in NAV_SPLIT_RE.split(line)) if x]
    if len(items) < 3 or any(len(x) > MAX_LABEL_CHARS for x in items):
        return False
    # A row of numbers is a data table (statistics, prices), not a menu.
    return sum(1 for x in items if any(c.isdigit() for c in x)) * 2 < len(items)


def _is_share(line: str) -> bool:
    if len(line) > MAX_FURNITURE_CHARS:
        return False
    line = EMOTICON_RE.sub("", line)  # "[赞][赞][赞]" is a comment made of emoticons, not buttons
    tokens = SHARE_RE.findall(line)
    # A button row names three targets or opens with "分享到": "转发微博。" (a repost) and "谢谢分享" are comments.
    if len(tokens) < 3 and not line.lstrip(LABEL_STRIP).startswith(("分享", "一键分享")):
        return False
    return len(FILLER_RE.sub("", SHARE_RE.sub("", line))) <= 2


def _layout_table_rows(lines: list[str]) -> set[int]:
    """Rows of Markdown tables (as extractors write HTML tables) made only of short labels: a menu or a layout
    table. A table with any number in it, or a cell that is a sentence, holds data and is kept whole."""
    out: set[int] = set()
    i = 0
    while i < len(lines):
        if not TABLE_ROW_RE.match(lines[i]):
            i += 1
            continue
        start = i
        while i < len(lines) and TABLE_ROW_RE.match(lines[i]):
            i += 1
        cells = [c.strip() for row in lines[start:i] for c in row.strip().strip("|").split("|")]
        labels = [c for c in cells if c and not TABLE_RULE_RE.fullmatch(c)]
        widest = max((len([c for c in row.strip().strip("|").split("|") if c.strip()]) for row in lines[start:i]),
                     default=0)
        if (labels and widest >= 3 and all(len(c) <= MAX_LABEL_CHARS and not c.endswith(TERMINAL) for c in labels)
                and not any(ch.isdigit() for c in labels for ch in c)):
            out.update(range(start, i))
    return out


def _is_copyright(line: str) -> bool:
    # A question or several sentences about copyright ("这本书的版权所有人是谁？") is prose, not a footer.
    if len(line) > MAX_COPYRIGHT_CHARS or "？" in line or "?" in line or line.count("。") > 1:
        return False
    return COPYRIGHT_RE.search(line) is not None


def _is_disclaimer(line: str) -> bool:
    if len(line) > MAX_DISCLAIMER_CHARS or "？" in line or "?" in line or line.count("。") > 4:
        return False
    match = DISCLAIMER_RE.search(line)
    return match is not None and match.start() <= MAX_DISCLAIMER_START


def _furniture(line: str, kinds: set[str]) -> str | None:
    """The kind of page furniture ``line`` is (a whole line or one table cell), or None for text."""
    if "navigation" in kinds and _is_navigation(line):
        return "navigation"
    if "share" in kinds and _is_share(line):
        return "share"
    if "copyright" in kinds and _is_copyright(line):
        return "copyright"
    if "disclaimer" in kinds and _is_disclaimer(line):
        return "disclaimer"
    if "read_more" in kinds:
        match = READ_MORE_RE.search(line)
        if match and len(line[: match.start()].rstrip(LABEL_STRIP + ".…")) <= 2:
            return "read_more"
    return None


def _clean_table_row(line: str, kinds: set[str]) -> tuple[str | None, str | None, int]:
    """(row to keep or None, kind of what was cut, characters cut) for one row of a table-layout page: cells
    that are furniture go ("| 当前位置：首页 > 新闻 | 正文…… |" keeps the text cell); a row left with no text
    (empty layout cells only) goes whole."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(TABLE_RULE_RE.fullmatch(c) for c in cells if c) and any(cells):
        return line, None, 0  # the |---|---| rule under a header
    cut = {i: _furniture(c, kinds) for i, c in enumerate(cells) if c}
    cut = {i: k for i, k in cut.items() if k}
    kept = [c for i, c in enumerate(cells) if c and i not in cut]
    kind = next(iter(cut.values()), None)
    if not kept:
        return None, kind or "navigation", sum(map(len, cells))
    if not cut:
        return line, None, 0
    return "| " + " | ".join(kept) + " |", kind, sum(len(cells[i]) for i in cut)


def clean_text(text: str, params: CleanLinesParams | None = None) -> Cleaned:
    """``text`` with furniture lines removed (line breaks of the kept lines preserved)."""
    params = params or CleanLinesParams()
    kinds = set(params.kinds)
    lines = (text or "").split("\n")
    total_chars = sum(len(line.strip()) for line in lines) or 1
    damaged = (encoding.damaged_lines(lines) if "encoding_damage" in kinds else set())
    layout = _layout_table_rows(lines) if "navigation" in kinds and "|" in (text or "") else set()
    cut_damage = sum(len(lines[i].strip()) for i in damaged) <= params.max_damage_cut_share * total_chars
    by_kind: dict[str, int] = {}
    out: list[str] = []
    removed_lines = removed_chars = 0

    def count(key: str, chars: int, whole_line: bool) -> None:
        nonlocal removed_lines, removed_chars
        removed_lines += whole_line
        removed_chars += chars
        by_kind[key] = by_kind.get(key, 0) + 1

    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            out.append(raw)
            continue
        if i in damaged and cut_damage:
            count("encoding_damage", len(line), True)
        elif i in layout:
            count("navigation", len(line), True)
        elif TABLE_ROW_RE.match(line):
            row, kind, chars = _clean_table_row(line, kinds)
            if row is None:
                count(kind, len(line), True)
            else:
                if kind:
                    count(f"{kind}_cell", chars, False)
                out.append(row if kind else raw)
        elif kind := _furniture(line, kinds):
            count(kind, len(line), True)
        elif "numeric" in kinds and is_numeric_furniture(line):
            count("numeric", len(line), True)
        elif "read_more" in kinds and (match := COUNTER_TAIL_RE.search(line)):
            # a paragraph's comment counter ("……来到“对面”。37", 段评 of novel sites) is not part of the sentence
            count("counter_tail", len(match.group(1)), False)
            out.append(line[: match.start(1)])
        elif "read_more" in kinds and (match := READ_MORE_RE.search(line)):
            rest = line[: match.start()].rstrip(LABEL_STRIP + ".…")  # a teaser line: keep the text, cut the link
            count("read_more_tail", len(line) - len(rest), False)
            out.append(rest)
        else:
            out.append(raw)
    cleaned = "\n".join(out) if removed_chars or removed_lines else (text or "")
    if removed_lines:
        cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return Cleaned(cleaned, removed_lines, removed_chars, by_kind)


class CleanLinesStage(Stage):
    name: ClassVar[str] = "clean_lines"
    Params: ClassVar[type] = CleanLinesParams

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        unknown = sorted(set(self.params.kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"clean_lines: unknown kind(s) {unknown}; available: {list(KINDS)}")

    def counters(self) -> dict:
        return {"docs_changed": 0, "lines_removed": 0, "chars_removed": 0, "lines_by_kind": {}}

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch[D.TEXT].to_pylist()
        results = [clean_text(t, self.params) for t in texts]
        out = D.set_column(batch, D.TEXT, pa.array([r.text for r in results], pa.string()))
        for name, values in (("lines_removed", [r.lines_removed for r in results]),
                             ("chars_removed", [r.chars_removed for r in results])):
            out = D.set_column(out, name, pa.array(values, pa.int32()))
        for r in results:
            if r.chars_removed:
                self.count("docs_changed")
                self.count("lines_removed", n=r.lines_removed)
                self.count("chars_removed", n=r.chars_removed)
                for kind, n in r.by_kind.items():
                    self.count("lines_by_kind", kind, n=n)
        empty = np.array([bool(t) and not r.text.strip() for t, r in zip(texts, results)])
        out = D.with_verdict_columns(out)
        if empty.any():
            out = D.reject(out, empty, "clean_lines:empty", [float(r.chars_removed) for r in results])
        return out
