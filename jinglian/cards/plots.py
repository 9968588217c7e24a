"""The run report's figures: PNGs under ``RUN_DIR/report/``, embedded in the card.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display,
no global backend switch). Source names, reasons and languages may be
Chinese: a CJK font is looked up among the usual system fonts (Debian:
``fonts-noto-cjk`` or ``fonts-wqy-microhei``); without one, non-ASCII labels are
written as escapes so that no glyph renders as an empty box.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from jinglian.cards.rundata import RunData, token_sources
from jinglian.core.atomic import atomic_path

CJK_FONT_NAMES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
# File names of CJK fonts installed after matplotlib cached its font list.
_CJK_FILE = re.compile(r"(?i)(wqy|notosanscjk|notoserifcjk|sourcehan|droidsansfallback|uming|ukai)")
MAX_BARS = 25
COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]


@dataclass
class Plot:
    file: str  # relative to the run directory, e.g. report/funnel.png
    title: str
    caption: str


def find_cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONT_NAMES:
        if name in names:
            return name
    for path in font_manager.findSystemFonts():
        if _CJK_FILE.search(os.path.basename(path)):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


class _Labels:
    """Turns data strings into labels the chosen fonts can draw."""

    def __init__(self, cjk_font: str | None):
        self.cjk_font = cjk_font

    def __call__(self, text) -> str:
        text = str(text)
        if self.cjk_font or text.isascii():
            return text
        return text.encode("ascii", "backslashreplace").decode("ascii")

    def rc(self) -> dict:
        families = ["DejaVu Sans"] + ([self.cjk_font] if self.cjk_font else [])
        return {"font.family": families, "axes.spines.top": False, "axes.spines.right": False}


def write_plots(data: RunData, report_dir: str, cjk_font: str | None | bool = True) -> list[Plot]:
    """Draw every figure the run has data for; return them in the order the card shows them.

    ``cjk_font``: True looks one up, a name uses it, False/None draws ASCII labels only.
    """
    os.makedirs(report_dir, exist_ok=True)
    font = find_cjk_font() if cjk_font is True else (cjk_font or None)
    labels = _Labels(font)
    rel = os.path.relpath(report_dir, data.path).replace(os.sep, "/")
    plots = []
    for name, draw in _FIGURES:
        fig = Figure(figsize=(8, 4.5), dpi=110)
        path = os.path.join(report_dir, f"{name}.png")
        with rc_context(labels.rc()):
            result = draw(data, fig, labels)
            if result is None:
                if os.path.exists(path):  # left by an earlier build of a run that had this data
                    os.remove(path)
                continue
            title, caption = result
            fig.tight_layout()
            with atomic_path(path) as tmp:
                FigureCanvasAgg(fig).print_png(tmp)
        plots.append(Plot(f"{rel}/{name}.png", title, caption))
    return plots


_THOUSANDS = FuncFormatter(lambda x, _: f"{x:,.0f}")


def _counts_axis(axis) -> None:
    """Whole numbers with thousands separators on an axis of counts."""
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(_THOUSANDS)


def _annotate(ax, y, values, total=None) -> None:
    """Write each horizontal bar's value (and share of ``total``) at its end."""
    for yy, v in zip(y, values):
        text = f"{v:,}" + (f"  ({v / total:.1%})" if total else "")
        ax.annotate(text, (v, yy), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)


def _funnel(data: RunData, fig: Figure, label):
    stats = data.stats
    read = stats["read"]
    names = [label(f"read ({read['errors']:,} unreadable)" if read["errors"] else "read")]
    values = [read["docs"]]
    for s in stats["stages"]:
        names.append(label(s["name"]))
        values.append(s["docs_out"])
    ax = fig.add_subplot()
    y = np.arange(len(values))[::-1]
    ax.barh(y, values, color=COLORS[0])
    ax.set_yticks(y, names)
    _annotate(ax, y, values, total=read["docs"] or None)
    ax.set_xlim(0, max(values + [1]) * 1.3)
    _counts_axis(ax.xaxis)
    ax.set_xlabel("documents remaining after the step")
    ax.set_title("Documents through the pipeline")
    return "Documents through the pipeline", (
        f"Documents left after each step, out of {read['docs']:,} read; "
        f"{stats['totals']['kept']:,} kept in the end."
    )


def _rejections(data: RunData, fig: Figure, label):
    stats = data.stats
    counts = dict(stats["reasons"])
    if stats["read"]["errors"]:
        counts["read:error"] = stats["read"]["errors"]
    for s in stats["stages"]:
        if s["failed"]:
            counts[f"{s['name']}:error"] = s["failed"]
    if not counts:
        return None
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_BARS]
    by_source = data.rejected_by_source
    sources = sorted({src for c in by_source.values() for src in c})
    split = len(sources) > 1 and all(sum(by_source.get(r, {}).values()) == n for r, n in stats["reasons"].items())
    fig.set_size_inches(8, max(2.5, 0.35 * len(top) + 1.5))
    ax = fig.add_subplot()
    y = np.arange(len(top))[::-1]
    left = np.zeros(len(top))
    if split:
        for k, src in enumerate(sources):
            widths = np.array([by_source.get(r, {}).get(src, 0) for r, _ in top], dtype=float)
            ax.barh(y, widths, left=left, color=COLORS[k % len(COLORS)], label=label(src or "(none)"))
            left += widths
        other = np.array([n for _, n in top]) - left  # read and stage errors carry no source here
        if other.any():
            ax.barh(y, other, left=left, color="#BBBBBB", label="errors")
        ax.legend(title="source", fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        ax.barh(y, [n for _, n in top], color=COLORS[3])
    _annotate(ax, y, [n for _, n in top])
    ax.set_yticks(y, [label(r) for r, _ in top])
    ax.set_xlim(0, max(n for _, n in top) * 1.2)
    _counts_axis(ax.xaxis)
    ax.set_xlabel("documents")
    ax.set_title("Why documents were removed")
    more = f" (top {MAX_BARS} of {len(counts)})" if len(counts) > MAX_BARS else ""
    return "Removed documents by reason", (
        f"Documents removed per rule (`stage:rule`) and unreadable or failed documents (`:error`){more}."
    )


def _lengths(data: RunData, fig: Figure, label):
    langs = sorted(data.lengths, key=lambda k: -len(data.lengths[k]))[:8]
    langs = [l for l in langs if len(data.lengths[l])]
    if not langs:
        return None
    everything = np.concatenate([data.lengths[l] for l in langs])
    lo = np.floor(np.log10(max(everything.min(), 1)))
    hi = max(lo + 1, np.log10(max(everything.max(), 1)) + 0.05)
    bins = np.logspace(lo, hi, 40)
    ax = fig.add_subplot()
    for k, lang in enumerate(langs):
        values = np.maximum(data.lengths[lang], 1)
        ax.hist(values, bins=bins, histtype="step", linewidth=1.6, color=COLORS[k % len(COLORS)],
                label=label(f"{lang} ({len(values):,} docs, median {int(np.median(values)):,})"))
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_THOUSANDS)
    ax.set_xlabel("characters per document")
    _counts_axis(ax.yaxis)
    ax.set_ylabel("documents")
    ax.legend(fontsize=8)
    ax.set_title("Document length by language (kept documents)")
    sampled = sum(len(v) for v in data.lengths.values())
    note = "" if sampled >= data.totals["kept"] else f" Measured on the first {sampled:,} of {data.totals['kept']:,} kept documents."
    return "Document length by language", f"Characters per kept document, one curve per language.{note}"


def _quality(data: RunData, fig: Figure, label):
    if not data.quality:
        return None
    values = np.concatenate(list(data.quality.values()))
    lo, hi = float(values.min()), float(values.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 41)
    names = sorted(data.quality, key=lambda k: (k != "kept", k))
    colors = [COLORS[2]] + [COLORS[(3 + k) % len(COLORS)] for k in range(len(names) - 1)]
    ax = fig.add_subplot()
    ax.hist([data.quality[n] for n in names], bins=bins, stacked=True, color=colors[: len(names)],
            label=[label(f"{n} ({len(data.quality[n]):,})") for n in names])
    ax.legend(fontsize=8)
    _counts_axis(ax.yaxis)
    ax.set_xlabel("quality_score")
    ax.set_ylabel("documents")
    ax.legend(fontsize=8)
    ax.set_title("Quality-classifier scores")
    return "Quality scores", ("Distribution of `quality_score` over the scored documents (stacked): kept ones and those "
                              "removed, by the step that removed them.")


def _clusters(data: RunData, fig: Figure, label):
    if not data.cluster_sizes:
        return None
    sizes = sorted(data.cluster_sizes)
    counts = [data.cluster_sizes[s] for s in sizes]
    sizes, counts = sizes[:40], counts[:40]
    ax = fig.add_subplot()
    bars = ax.bar([str(s) for s in sizes], counts, color=COLORS[4])
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=8)
    if max(counts) > 50 * min(counts):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_THOUSANDS)
    else:
        _counts_axis(ax.yaxis)
    ax.set_xlabel("cluster size (kept document + the duplicates that name it in duplicate_of)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate clusters")
    n = sum(data.cluster_sizes.values())
    removed = sum((s - 1) * c for s, c in data.cluster_sizes.items())
    return "Duplicate-cluster sizes", f"{n:,} clusters of duplicates; {removed:,} documents removed as duplicates of a kept one."


def _tokens(data: RunData, fig: Figure, label):
    if not data.manifest:
        return None
    sources = {k: v["tokens"] for k, v in token_sources(data.manifest).items() if v["tokens"]}
    if not sources:
        return None
    items = sorted(sources.items(), key=lambda kv: -kv[1])[:MAX_BARS]
    ax = fig.add_subplot()
    y = np.arange(len(items))[::-1]
    ax.barh(y, [v for _, v in items], color=COLORS[1])
    ax.set_yticks(y, [label(k) for k, _ in items])
    total = sum(sources.values())
    _annotate(ax, y, [v for _, v in items], total=total)
    ax.set_xlim(0, max(sources.values()) * 1.35)
    _counts_axis(ax.xaxis)
    ax.set_xlabel("tokens")
    ax.set_title("Tokens per source")
    return "Tokens per source", f"{total:,} tokens in the token shards, by source."


_FIGURES = [
    ("funnel", _funnel),
    ("rejections", _rejections),
    ("lengths", _lengths),
    ("quality", _quality),
    ("duplicates", _clusters),
    ("tokens", _tokens),
]
FIGURE_NAMES = [name for name, _ in _FIGURES]
