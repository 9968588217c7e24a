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
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import zlib
from collections import defaultdict
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


def run(bench_dir: Path | str | None = None, datasets: set[str] | None = None, limit: int | None = None, previous: bool = True) -> dict:
    """Prints the per-dataset / per-genre table and returns summary figures (F1 means, pages/s per core).

    ``previous``: also run the stage as it was before the per-page choice and the navigation-table
    pass (precision only), for the throughput ratio in the same run.
    """
    root = Path(bench_dir) if bench_dir else bench_data()
    pages = load_genre_pages(root, datasets)
    if limit:
        by_group: dict[str, list[GenrePage]] = defaultdict(list)
        for p in pages:
            by_group[p.group].append(p)
        pages = [p for group in by_group.values() for p in group[:limit]]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="comma-separated dataset names (default: all)")
    parser.add_argument("--limit", type=int, help="at most N pages per dataset / genre (a quick look)")
    parser.add_argument("--no-previous", action="store_true", help="skip the precision-only stage run")
    args = parser.parse_args()
    print_machine()
    run(bench_data(), set(args.datasets.split(",")) if args.datasets else None, args.limit, previous=not args.no_previous)


if __name__ == "__main__":
    main()
