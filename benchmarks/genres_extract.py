"""Extraction quality per dataset and per genre: jinglian's ``extract`` vs trafilatura's defaults (and resiliparse).

Pages: every ``web-genres-extract/<dataset>/pages.jsonl.gz`` (wcxb split by its
``genre`` field) plus the two article sets of ``benchmarks/extract.py``
(article-extraction-benchmark, the Chinese pages of magic-html-article).
Score: token-level precision / recall / F1 against the ground truth, exactly as
``benchmarks/extract.py`` scores (Chinese pages: bags of non-space characters;
other languages: lower-cased ``\\w+`` words), averaged per page; an empty output
scores 0.

Extractors, each on one core in this process:
- ``jinglian``: the ``extract`` stage with its default parameters (in-process,
  ``isolate=False``, so the time is the extraction's, not the worker pipe's);
  pages stored as text go in as UTF-8 bytes with ``charset=utf-8``, the raw
  magic-html-article bytes go in undeclared (the stage's charset detection);
- ``trafilatura``: ``trafilatura.extract(html)`` with its defaults (the baseline);
- ``resiliparse``: ``extract_plain_text(html, main_content=True)``;
- ``jl-previous``: the stage with ``decide=False, drop_navigation_tables=False``
  (precision mode only, the stage before the per-page choice).

The per-page decision rules of the stage were tuned on the pages whose stable
hash (crc32 of ``dataset/id``) is even; the "held-out half" column scores only
the odd ones.

    python benchmarks/genres_extract.py [--datasets wcxb,cwced] [--limit N]
    python benchmarks/genres_extract.py --passes   # where the CPU goes, and the alternatives measured
    python benchmarks/genres_extract.py --passes --cache PARTS.pkl.gz   # parts computed once (a file outside the repo), replayed after

``--passes`` times each part of the stage's work per page (parse, title, date,
navigation tables, the precision pass, resiliparse, trafilatura's defaults with
and without comments, the same with ``fast=True``, the baseline), replays the
stage's per-page choice from those parts with ``decide.py`` (same texts as the
stage), and prints F1 and CPU cost of alternative configurations from the same
parts: the cut-off ``OUTSIDE_SHARE`` raised, the precision pass with
``fast=True``, a recall-gap rule (``coverage``: the defaults also where the
precision text leaves much of the estimate out), trafilatura's defaults kept
over the estimate where the precision and default texts agree (``agree``), and
resiliparse first (trafilatura only where resiliparse's text looks wrong: too
short, or a share of the whole page's text outside a band).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import bench_data, print_machine  # noqa: E402
from benchmarks.extract import load_pages, prf  # noqa: E402
from jinglian.core import documents as D  # noqa: E402
from jinglian.stages.extract.stage import ExtractParams, ExtractStage  # noqa: E402

ARTICLE_SETS = ("article-extraction-benchmark", "magic-html-article (zh)")


@dataclass
class GenrePage:
    dataset: str
    group: str  # the row it is reported in: the dataset, or "wcxb:<genre>"
    key: str
    html: bytes
    declared: str | None  # charset the bytes are in, when known
    url: str | None
    gold: str
    lang: str  # "zh" scores characters, anything else words

    @property
    def held_out(self) -> bool:
        return zlib.crc32(f"{self.dataset}/{self.key}".encode()) % 2 == 1


def load_genre_pages(root: Path, datasets: set[str] | None = None) -> list[GenrePage]:
    pages = []
    for path in sorted((root / "web-genres-extract").glob("*/pages.jsonl.gz")):
        dataset = path.parent.name
        if datasets and dataset not in datasets:
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                group = f"{dataset}:{r['genre']}" if dataset == "wcxb" else dataset
                lang = "zh" if r["lang"] == "zh" else "en"
                pages.append(GenrePage(dataset, group, r["id"], r["html"].encode("utf-8"), "utf-8", r.get("url"), r["ground_truth"], lang))
    if datasets is None or datasets & set(ARTICLE_SETS):
        english, chinese = load_pages(root)
        for name, subset in zip(ARTICLE_SETS, (english, chinese)):
            if datasets and name not in datasets:
                continue
            pages += [GenrePage(name, name, p.key, p.html, None, p.url, p.gold, p.lang) for p in subset]
    return pages


def decoded(page: GenrePage) -> str:
    from jinglian.stages.extract.charset import decode_html

    return decode_html(page.html, page.declared)[0]


def run_jinglian(pages: list[GenrePage], batch: int = 16, **params) -> tuple[list[str], float]:
    stage = ExtractStage(ExtractParams(isolate=False, **params))
    stage.setup()
    texts: list[str] = []
    for i in [-1] + list(range(0, len(pages), batch)):  # -1: one untimed warm-up page (lazy imports, stop lists)
        if i == 0:
            start = time.process_time()
        part = pages[i : i + batch] if i >= 0 else pages[:1]
        table = pa.table(
            {
                D.ID: [p.key for p in part],
                D.TEXT: [""] * len(part),
                "content": pa.array([p.html for p in part], pa.binary()),
                "url": pa.array([p.url for p in part], pa.string()),
                "charset": pa.array([p.declared for p in part], pa.string()),
            }
        )
        out = D.with_verdict_columns(stage.process(table))
        if i < 0:
            continue
        texts += [t if r is None else "" for t, r in zip(out[D.TEXT].to_pylist(), out[D.REASON].to_pylist())]
    return texts, time.process_time() - start


def run_trafilatura(pages: list[GenrePage]) -> tuple[list[str], float]:
    import trafilatura

    htmls = [decoded(p) for p in pages]  # decoding is not part of its time (the stage's time includes it)
    trafilatura.extract(htmls[0])  # untimed warm-up, as for the stage
    start = time.process_time()
    out = [trafilatura.extract(h, url=p.url) or "" for h, p in zip(htmls, pages)]
    return out, time.process_time() - start


def run_resiliparse(pages: list[GenrePage]) -> tuple[list[str], float] | None:
    try:
        from resiliparse.extract.html2text import extract_plain_text
    except ImportError:
        return None
    htmls = [decoded(p) for p in pages]
    extract_plain_text(htmls[0], main_content=True)
    start = time.process_time()
    out = [extract_plain_text(h, main_content=True) for h in htmls]
    return out, time.process_time() - start


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def selected_pages(bench_dir, datasets: set[str] | None, limit: int | None) -> list[GenrePage]:
    """The genre pages of ``datasets`` (all by default), the first ``limit`` of each dataset/genre group."""
    root = Path(bench_dir) if bench_dir else bench_data()
    pages = load_genre_pages(root, datasets)
    if limit:
        by_group: dict[str, list[GenrePage]] = defaultdict(list)
        for p in pages:
            by_group[p.group].append(p)
        pages = [p for group in by_group.values() for p in group[:limit]]
    return pages


def run(bench_dir: Path | str | None = None, datasets: set[str] | None = None, limit: int | None = None, previous: bool = True) -> dict:
    """Prints the per-dataset / per-genre table and returns summary figures (F1 means, pages/s per core).

    ``previous``: also run the stage as it was before the per-page choice and the navigation-table
    pass (precision only), for the throughput ratio in the same run.
    """
    pages = selected_pages(bench_dir, datasets, limit)
    runs = {"trafilatura": run_trafilatura(pages), "jinglian": run_jinglian(pages)}
    if previous:
        runs["jl-previous"] = run_jinglian(pages, decide=False, drop_navigation_tables=False)
    rs = run_resiliparse(pages)
    if rs is not None:
        runs["resiliparse"] = rs
    names = list(runs)
    f1 = {name: [prf(text, p.gold, p.lang)[2] for text, p in zip(runs[name][0], pages)] for name in names}
    empty = {name: [not text.strip() for text in runs[name][0]] for name in names}

    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pages):
        groups[p.group].append(i)
    genre_pages = [i for i, p in enumerate(pages) if p.dataset not in ARTICLE_SETS]
    rows = [(g, groups[g]) for g in sorted(groups, key=lambda g: (g in ARTICLE_SETS, g))]
    rows.append(("ALL web-genres-extract", genre_pages))

    print("\n## Extraction F1 per dataset and genre (mean per page; held-out half = odd crc32 of dataset/id)")
    head = f"{'dataset / genre':32s} {'pages':>5s}" + "".join(f" {n:>11s}" for n in names) + f" {'jl-tf':>7s} {'held-out jl-tf':>15s} {'empty jl/tf':>11s}"
    print(head)
    table = {}
    for group, idx in rows:
        means = {n: _mean([f1[n][i] for i in idx]) for n in names}
        held = [i for i in idx if pages[i].held_out]
        held_gain = _mean([f1["jinglian"][i] - f1["trafilatura"][i] for i in held])
        table[group] = {**{n: round(m, 4) for n, m in means.items()}, "pages": len(idx), "held_out_gain": round(held_gain, 4)}
        print(
            f"{group:32s} {len(idx):5d}" + "".join(f" {means[n]:11.3f}" for n in names)
            + f" {means['jinglian'] - means['trafilatura']:+7.3f} {held_gain:+15.3f}"
            + f" {sum(empty['jinglian'][i] for i in idx):5d}/{sum(empty['trafilatura'][i] for i in idx):<5d}"
        )
    speed = {n: len(pages) / runs[n][1] for n in names}
    print("\npages/s per core (CPU time of this process, decoding included for jinglian only):")
    for n in names:
        print(f"  {n:12s} {speed[n]:8.1f} pages/s  ({runs[n][1]:.1f} CPU s for {len(pages)} pages)")
    print(f"  jinglian / trafilatura speed ratio: {speed['jinglian'] / speed['trafilatura']:.2f}x (machine load at end: {os.getloadavg()[0]:.1f})")
    if "jl-previous" in speed:
        print(f"  jinglian / jl-previous (precision only, before the per-page choice) speed ratio: {speed['jinglian'] / speed['jl-previous']:.2f}x")
    worse = [g for g, _ in rows if table[g]["jinglian"] < table[g]["trafilatura"]]
    print(f"  groups where jinglian < trafilatura defaults: {', '.join(worse) if worse else 'none'}")
    return {"groups": table, "pages_per_s": {n: round(s, 2) for n, s in speed.items()}, "worse_groups": worse}


def _timed(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def page_parts(html: str, url: str | None) -> dict | None:
    """Every extraction the stage may run on a page, each with its CPU seconds (``t_<name>``)."""
    from copy import deepcopy

    import trafilatura
    from htmldate import find_date
    from resiliparse.extract.html2text import extract_plain_text
    from trafilatura.metadata import extract_title
    from trafilatura.settings import set_date_params
    from jinglian.stages.extract.interior_fill import link_paragraphs
    from jinglian.stages.extract.navigation import drop_navigation_tables
    from jinglian.stages.extract.stage import parse_page

    o: dict = {}
    original = html  # the baseline reads the page as given
    (html, tree), o["t_parse"] = _timed(lambda: parse_page(html))
    if tree is None:
        return None
    _, o["t_title"] = _timed(lambda: extract_title(tree))
    _, o["t_date"] = _timed(lambda: find_date(tree, url=url, **set_date_params(False)))
    dropped, o["t_nav"] = _timed(lambda: drop_navigation_tables(tree))
    fresh = (lambda: deepcopy(tree)) if dropped else (lambda: html)  # the fallbacks read the page less its menus
    o["link_paragraphs"], o["t_links"] = _timed(lambda: link_paragraphs(tree))  # the stage scans only when the fill has lines

    def text(doc) -> str:
        return (doc.text or "") if doc is not None else ""

    for name, fast in (("precision", False), ("precision_fast", True)):
        doc, o[f"t_{name}"] = _timed(lambda: trafilatura.bare_extraction(deepcopy(tree), url=url, favor_precision=True, include_comments=False, include_tables=True, fast=fast))
        o[name] = text(doc)
    for name, kw in (("defaults", {}), ("defaults_fast", {"fast": True}), ("comments", {"include_comments": True})):
        kw.setdefault("include_comments", False)
        o[name], o[f"t_{name}"] = _timed(lambda: trafilatura.extract(fresh(), url=url, **kw) or "")
    o["baseline"], o["t_baseline"] = _timed(lambda: trafilatura.extract(original, url=url) or "")
    o["resiliparse"], o["t_resiliparse"] = _timed(lambda: extract_plain_text(html, main_content=True))
    o["whole"], o["t_whole"] = _timed(lambda: extract_plain_text(html, main_content=False))
    return o


def replay(o: dict, outside: float | None = None, precision: str = "precision", short: float | None = None,
           coverage: float | None = None, agree: float | None = None, fill: bool = True) -> tuple[str, float, int]:
    """The stage's choice replayed from a page's parts: ``(text, CPU s, trafilatura passes)``.

    Alternatives measured with it (the stage's own choice when all are None): ``outside`` and
    ``short`` replace ``OUTSIDE_SHARE`` and ``SHORT_SHARE``; ``coverage``: a page whose precision
    text leaves more than this share of the estimate's tokens out goes to the defaults as well (a
    recall-gap rule); ``agree``: on a page still short of the estimate after the comments pass, keep
    trafilatura's defaults instead of the estimate when the precision and default texts agree (each
    has at most this share of its tokens outside the other); ``fill``: the interior fill of a page
    that keeps its precision text (``interior_fill.py``, on in the stage).
    """
    from jinglian.stages.extract import decide as dc
    from jinglian.stages.extract.interior_fill import interior_fill

    cost = o["t_parse"] + o["t_title"] + o["t_date"] + o["t_nav"] + o[f"t_{precision}"] + o["t_resiliparse"]
    saved = dc.OUTSIDE_SHARE, dc.SHORT_SHARE
    dc.OUTSIDE_SHARE = outside if outside is not None else dc.OUTSIDE_SHARE
    dc.SHORT_SHARE = short if short is not None else dc.SHORT_SHARE
    try:
        choice = dc.verdict(o[precision], o["resiliparse"])
    finally:
        dc.OUTSIDE_SHARE, dc.SHORT_SHARE = saved
    precise, estimate = dc.token_counts(o[precision]), dc.token_counts(o["resiliparse"])
    if choice == dc.PRECISION and coverage is not None and dc.outside_share(estimate, precise) > coverage:
        choice = dc.DEFAULT
    if choice == dc.PRECISION:
        # the fill's CPU (alignment of two texts, ~1 ms a page) is not timed: left out of the cost
        return (interior_fill(o[precision], o["resiliparse"], lambda: o.get("link_paragraphs", [])) if fill else o[precision]), cost, 1
    text, cost, passes = o["defaults"], cost + o["t_defaults"], 2
    if choice == dc.SHORT and not dc.long_enough(text, o["resiliparse"]):
        cost, passes = cost + o["t_comments"], 3
        fallback = dc.token_counts(text)
        if (agree is not None and precise and not dc.long_enough(o["comments"], o["resiliparse"])
                and dc.outside_share(precise, fallback) <= agree and dc.outside_share(fallback, precise) <= agree):
            return dc.drop_repeated_lines(text), cost, passes
        text, _ = dc.pick_short(text, o["comments"], o["resiliparse"])
    return dc.drop_repeated_lines(text), cost, passes


def resiliparse_first(o: dict, low: float, high: float, min_tokens: int) -> tuple[str, float, int]:
    """resiliparse's text when it looks right (enough tokens, a share of the whole page's text in
    [low, high]); the stage's choice otherwise."""
    from jinglian.stages.extract.decide import n_tokens

    n_main, n_whole = (n_tokens(o[k]) for k in ("resiliparse", "whole"))
    cost = o["t_parse"] + o["t_title"] + o["t_date"] + o["t_resiliparse"] + o["t_whole"]
    if n_main >= min_tokens and n_whole and low <= n_main / n_whole <= high:
        return o["resiliparse"], cost, 0
    text, more, passes = replay(o)
    return text, more + o["t_whole"], passes


def cached_parts(pages: list[GenrePage], cache: Path | str | None = None) -> list[dict | None]:
    """``page_parts`` of every page; with ``cache`` (a pickle.gz file outside the repository) they are
    read from it when it holds them all, else computed once and written there, so that alternative
    rules replay in seconds instead of ~10 CPU minutes of trafilatura passes."""
    import pickle

    keys = [f"{p.dataset}/{p.key}" for p in pages]
    if cache and Path(cache).is_file():
        with gzip.open(cache, "rb") as f:
            stored = pickle.load(f)
        if all(k in stored for k in keys):
            return [stored[k] for k in keys]
    page_parts(decoded(pages[0]), pages[0].url)  # untimed warm-up (lazy imports, stop lists)
    parts = [page_parts(decoded(p), p.url) for p in pages]
    if cache:
        with gzip.open(cache, "wb") as f:
            pickle.dump(dict(zip(keys, parts)), f)
    return parts


def run_passes(bench_dir: Path | str | None = None, datasets: set[str] | None = None, limit: int | None = None,
               cache: Path | str | None = None) -> dict:
    """Profile of the stage's CPU per part and per number of trafilatura passes, and alternatives, one run."""
    pages = selected_pages(bench_dir, datasets, limit)
    parts = cached_parts(pages, cache)
    keep = [i for i, o in enumerate(parts) if o is not None]
    print(f"\n## Where the stage's CPU goes ({len(keep)} of {len(pages)} pages parsed; CPU s of this process)")
    for k in sorted(k for k in parts[keep[0]] if k.startswith("t_")):
        print(f"  {k[2:]:16s} {sum(parts[i][k] for i in keep):8.1f} s")
    configs = {
        "stage (replayed)": lambda o: replay(o),
        "stage without the interior fill": lambda o: replay(o, fill=False),
        "OUTSIDE_SHARE 0.2": lambda o: replay(o, outside=0.2),
        "precision fast=True": lambda o: replay(o, precision="precision_fast"),
        "defaults kept when precision and defaults agree (0.05)": lambda o: replay(o, agree=0.05),
        "coverage 0.5 (estimate tokens outside precision)": lambda o: replay(o, coverage=0.5),
        "coverage 0.3": lambda o: replay(o, coverage=0.3),
        "fast=True, SHORT 0.15, OUTSIDE 0.05, coverage 0.4": lambda o: replay(o, 0.05, "precision_fast", 0.15, 0.4),
        "resiliparse only": lambda o: resiliparse_first(o, 0.0, 1.01, 0),
        "resiliparse first [0.2, 0.8], >= 50": lambda o: resiliparse_first(o, 0.2, 0.8, 50),
        "resiliparse first [0.3, 0.7], >= 100": lambda o: resiliparse_first(o, 0.3, 0.7, 100),
    }
    t_base = sum(parts[i]["t_baseline"] for i in keep)
    t_prev = sum(parts[i]["t_parse"] + parts[i]["t_title"] + parts[i]["t_date"] + parts[i]["t_precision"] for i in keep)
    baseline = {i: prf(parts[i]["baseline"], pages[i].gold, pages[i].lang)[2] for i in keep}
    out = {}
    for name, fn in configs.items():
        runs = {i: fn(parts[i]) for i in keep}
        gain: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        for i, (text, _, _) in runs.items():
            row = (prf(text, pages[i].gold, pages[i].lang)[2] - baseline[i], pages[i].held_out)
            gain[pages[i].group].append(row)
            if pages[i].dataset not in ARTICLE_SETS:
                gain["ALL web-genres-extract"].append(row)
        cost = sum(c for _, c, _ in runs.values())
        passes = Counter(n for _, _, n in runs.values())
        mean = {g: _mean([d for d, _ in r]) for g, r in gain.items()}
        held = {g: _mean([d for d, h in r if h]) for g, r in gain.items()}
        below = sorted(g for g in mean if g != "ALL web-genres-extract" and mean[g] < 0)
        out[name] = {"gain": mean["ALL web-genres-extract"], "held_out_gain": held["ALL web-genres-extract"], "below": below,
                     "vs_trafilatura": t_base / cost, "vs_previous": t_prev / cost, "passes": dict(passes)}
        print(f"\n{name}: F1 - trafilatura defaults {mean['ALL web-genres-extract']:+.4f} (held-out half {held['ALL web-genres-extract']:+.4f});"
              f" speed {t_base / cost:.2f}x trafilatura, {t_prev / cost:.2f}x the precision-only stage;"
              f" pages by trafilatura passes {dict(sorted(passes.items()))}")
        print(f"  rows below trafilatura ({len(below)}): " + ", ".join(f"{g} {mean[g]:+.3f}" for g in below))
    print(f"  machine load at end: {os.getloadavg()[0]:.1f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="comma-separated dataset names (default: all)")
    parser.add_argument("--limit", type=int, help="at most N pages per dataset / genre (a quick look)")
    parser.add_argument("--no-previous", action="store_true", help="skip the precision-only stage run")
    parser.add_argument("--passes", action="store_true", help="CPU per part of the stage's work and alternative configurations instead")
    parser.add_argument("--cache", help="with --passes: pickle.gz file of the per-page parts, read when present, else written (keep it outside the repository)")
    args = parser.parse_args()
    print_machine()
    if args.passes:
        run_passes(bench_data(), set(args.datasets.split(",")) if args.datasets else None, args.limit, args.cache)
        return
    run(bench_data(), set(args.datasets.split(",")) if args.datasets else None, args.limit, previous=not args.no_previous)


if __name__ == "__main__":
    main()
