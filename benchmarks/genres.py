"""Curation on every genre of Chinese, in one run (issue 16): what the filter keeps, what it catches.

Tables, all printed (Markdown):

1. zh-genres-clean, per genre, documents of >= 200 characters: the share kept by
   the default ``filter`` (after ``clean_lines``, the step before it), by each
   rule set alone, and the rules that reject; short documents (< 200 characters)
   in a table of their own (``min_chars`` is a policy a job chooses).
2. ``clean_lines`` on the clean genres: lines and characters removed per genre
   (the target is ~0: clean prose is never cut).
3. zh-junk, per kind: the share rejected by the default filter (and the rule).
4. Peer: FineWeb-2's Chinese (``cmn_Hani``) filter configuration run through
   datatrove on the same documents (benchmarks/genres_peer.py; needs the ``bench``
   extra or ``--datatrove-python``, an interpreter that has datatrove; skipped
   with a note when datatrove or its Chinese word tokenizer is missing).
5. Old corpora: zh-laws-lawrefbook and zh-wiki-mrc keep rates (>= 95%).
6. End to end on the Chinese article page sets (web-genres-extract ``daniel`` zh
   pages, ``cwced``, magic-html-article Chinese pages): pages -> extract ->
   clean_lines -> langid -> filter (-> quality when the quality module offers it).
   A page's main text *survives* when the page is kept by every stage and the
   kept text scores F1 >= 0.5 against the ground truth (bags of non-space
   characters, as benchmarks/extract.py scores Chinese).

Hooks: ``benchmarks/genres_extract.py`` (extraction F1 per dataset and genre) and
``benchmarks/genres_quality.py`` (perplexity and the quality classifier per genre)
are imported when present and their ``run(bench_dir)`` prints its own tables.
The end-to-end table is printed twice: without the quality stage, and with it
(``genres_quality.keeps(texts) -> list[bool]`` when that module offers it, else a
classifier trained here on the genre data, see :func:`trained_quality_keeps`).

    python benchmarks/genres.py [--skip-pages] [--skip-peer] [--skip-hooks] [--datatrove-python PYTHON]

Data: ``$JINGLIAN_BENCH_DATA`` (default ``../shared/bench-data``), so held-out
halves with the same layout can be swapped in.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import bench_data, print_machine  # noqa: E402
from jinglian.stages.filter import DEFAULT_RULESETS, RULESETS, FilterStage  # noqa: E402
from jinglian.stages.filter.text_stats import TextStats  # noqa: E402

SHORT_CHARS = 200  # the line between documents judged and short documents reported apart
SURVIVAL_F1 = 0.5


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def is_short(text: str) -> bool:
    return len(text) < SHORT_CHARS  # characters as zh-genres-clean counts them (its `chars` field)


def _clean(texts: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """``clean_lines`` with its defaults: (cleaned texts, (lines, characters) removed per text)."""
    from jinglian.stages.clean_lines import CleanLinesParams, clean_text

    params = CleanLinesParams()
    out, removed = [], []
    for text in texts:
        result = clean_text(text, params)
        out.append(result.text)
        removed.append((result.lines_removed, result.chars_removed))
    return out, removed


def _pct(k: int, n: int) -> str:
    return f"{k / n:.1%}" if n else "-"


# ---- 1-3: the filter on clean genres and on junk --------------------------------------------------

def filter_matrix(groups: dict[str, list[str]], title: str, rejected_view: bool = False,
                  per_ruleset: bool = True) -> dict:
    """Keep (or reject) shares per group: default filter after clean_lines, filter alone, each rule set alone."""
    plans = {name: RULESETS[name].configure(None) for name in DEFAULT_RULESETS} if per_ruleset else {}
    default = FilterStage()
    columns = ["clean_lines + filter", "filter alone", *plans]
    print(f"\n## {title}\n")
    print("| group | docs | " + " | ".join(columns) + " | rejected by (clean_lines + filter) |")
    print("|---|---:|" + "---:|" * len(columns) + "---|")
    summary = {}
    for group, texts in groups.items():
        cleaned, _ = _clean(texts)
        kept, reasons = Counter(), Counter()
        for raw, text in zip(texts, cleaned):
            verdict = default.judge(text, "zh")
            kept["clean_lines + filter"] += verdict is None
            if verdict is not None:
                reasons[verdict[0].removeprefix("filter:")] += 1
            kept["filter alone"] += default.judge(raw, "zh") is None
            if plans:
                stats = TextStats(raw, is_cjk=True)
                for name, th in plans.items():
                    kept[name] += RULESETS[name].judge(stats, th) is None
        n = len(texts)
        shares = {c: (n - kept[c] if rejected_view else kept[c]) for c in columns}
        why = ", ".join(f"{r} {c}" for r, c in reasons.most_common(4))
        print(f"| {group} | {n} | " + " | ".join(_pct(shares[c], n) for c in columns) + f" | {why} |")
        summary[group] = {"n": n, **{c: shares[c] / n if n else 0.0 for c in columns}}
    return summary


def cleaning_table(groups: dict[str, list[str]]) -> None:
    print("\n## clean_lines on clean genres: lines and characters removed (target ~0)\n")
    print("| genre | docs | docs changed | lines removed / lines | chars removed / chars |")
    print("|---|---:|---:|---:|---:|")
    for group, texts in groups.items():
        _, removed = _clean(texts)
        lines = sum(len([x for x in t.split("\n") if x.strip()]) for t in texts)
        chars = sum(len(t) for t in texts)
        changed = sum(1 for r in removed if r[0])
        rl, rc = sum(r[0] for r in removed), sum(r[1] for r in removed)
        print(f"| {group} | {len(texts)} | {changed} | {rl} / {lines} | {rc} / {chars} ({_pct(rc, chars)}) |")


# ---- 4: the peer (FineWeb-2 cmn_Hani through datatrove) -------------------------------------------

def peer_table(genres: dict[str, list[str]], junk: dict[str, list[str]], python: str | None) -> None:
    """FineWeb-2's cmn_Hani filters (benchmarks/genres_peer.py) on every group, in this interpreter or in
    ``python`` (one that has datatrove, e.g. the venv of benchmarks/scale.py's datatrove side)."""
    from benchmarks import genres_peer

    print("\n## Peer: FineWeb-2 cmn_Hani filters (datatrove) on the same documents\n")
    groups = [*genres.items(), *((f"junk: {k}", v) for k, v in junk.items())]
    texts = [text for _, group in groups for text in group]
    try:
        reasons = genres_peer.peer_keeps_in(python, texts) if python else genres_peer.peer_keeps(texts)
    except Exception as exc:  # noqa: BLE001 - an optional dependency: say why the row is missing
        print(f"(not run: {type(exc).__name__}: {exc}; install the `bench` extra (pip install -e '.[bench]') "
              "or name an interpreter that has datatrove with --datatrove-python)")
        return
    print("| group | docs | kept by FineWeb-2 cmn_Hani | rejected by |")
    print("|---|---:|---:|---|")
    start = 0
    for group, group_texts in groups:
        mine = reasons[start:start + len(group_texts)]
        start += len(group_texts)
        why = Counter(r for r in mine if r)
        print(f"| {group} | {len(mine)} | {_pct(sum(r is None for r in mine), len(mine))} | "
              + ", ".join(f"{r} {c}" for r, c in why.most_common(3)) + " |")


# ---- 5: the corpora the rules were first written for -----------------------------------------------

def reference_table(root: Path) -> None:
    laws = [d["text"] for d in read_jsonl_gz(root / "zh-laws-lawrefbook/laws.jsonl.gz")]
    wiki = [json.loads(line)["text"] for line in open(root / "zh-wiki-mrc/unique_wiki_paragraphs.jsonl", encoding="utf-8")]
    filter_matrix({"zh-laws-lawrefbook": laws, "zh-wiki-mrc paragraphs": wiki},
                  "Laws and encyclopedia (must stay >= 95% kept)", per_ruleset=False)


# ---- 6: pages -> extract -> clean_lines -> langid -> filter (-> quality) --------------------------

def _char_f1(pred: str, gold: str) -> float:
    p, g = Counter(re.sub(r"\s", "", pred)), Counter(re.sub(r"\s", "", gold))
    common = sum((p & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def article_pages(root: Path) -> dict[str, list[dict]]:
    """{set name: [{html, url, gold}]} for the Chinese article page sets."""
    from jinglian.stages.langid.stage import cjk_ratio

    sets: dict[str, list[dict]] = {}
    wge = root / "web-genres-extract"
    for name in ("daniel", "cwced"):
        rows = read_jsonl_gz(wge / name / "pages.jsonl.gz")
        sets[f"web-genres-extract {name} (zh)"] = [
            {"html": r["html"], "url": r.get("url"), "gold": r["ground_truth"]} for r in rows if r["lang"] == "zh"]
    mh = root / "magic-html-article"
    base = json.loads((mh / "base.json").read_text(encoding="utf-8"))
    kana = re.compile(r"[\u3040-\u30ff]")
    sets["magic-html-article (zh)"] = [
        {"html": gzip.open(mh / "htmls" / f"{k}.html.gz").read(), "url": v.get("url"), "gold": v["content"]}
        for k, v in sorted(base.items())
        if cjk_ratio(v["content"]) > 0.3 and len(kana.findall(v["content"])) < 0.01 * len(v["content"])]
    return sets


def run_pages(pages: list[dict]) -> list[dict]:
    """Every page through extract -> clean_lines -> langid -> filter with their defaults (langid as the demo
    job sets it); one row per page, in page order, with its verdict."""
    import pyarrow as pa

    from jinglian.core import documents as D
    from jinglian.stages.clean_lines import CleanLinesStage
    from jinglian.stages.extract.stage import ExtractStage
    from jinglian.stages.langid.stage import LangIdParams, LangIdStage

    stages = [ExtractStage(), CleanLinesStage(), LangIdStage(LangIdParams(allow=["zh"], min_score=0.5)),
              FilterStage()]
    for stage in stages:
        stage.setup()
    contents = [p["html"].encode("utf-8") if isinstance(p["html"], str) else p["html"] for p in pages]
    table = D.with_verdict_columns(pa.table({D.ID: [str(i) for i in range(len(pages))], "content": contents,
                                             "url": [p["url"] for p in pages]}))
    for stage in stages:
        active = D.active_mask(table)
        done, todo = table.filter(pa.array(~active)), table.filter(pa.array(active))
        if len(todo):
            todo = D.with_verdict_columns(stage.process(todo))
        table = pa.concat_tables([todo, done], promote_options="permissive") if len(done) else todo
    return sorted(table.to_pylist(), key=lambda r: int(r[D.ID]))


def end_to_end(root: Path, quality_keeps) -> dict:
    from jinglian.core import documents as D

    results = {name: (pages, run_pages(pages)) for name, pages in article_pages(root).items()}
    summary = {}
    for with_quality in (False, True):
        print("\n## End to end: pages -> extract -> clean_lines -> langid -> filter"
              + (" -> quality" if with_quality else "") + "\n")
        print(f"A page survives when every stage keeps it and the kept text scores F1 >= {SURVIVAL_F1} "
              "against the ground truth (non-space characters).\n")
        print("| page set | pages | survive | kept but F1 < 0.5 | rejected by |")
        print("|---|---:|---:|---:|---|")
        for name, (pages, rows) in results.items():
            kept = [r for r in rows if r[D.REASON] is None and r[D.ERROR] is None]
            reasons = Counter(r[D.REASON] or f"error:{r[D.ERROR]}" for r in rows
                              if r[D.REASON] is not None or r[D.ERROR] is not None)
            if with_quality and kept:
                verdicts = quality_keeps([r[D.TEXT] for r in kept])
                reasons["quality"] += sum(not ok for ok in verdicts)
                kept = [r for r, ok in zip(kept, verdicts) if ok]
            survive = sum(1 for r in kept if _char_f1(r[D.TEXT], pages[int(r[D.ID])]["gold"]) >= SURVIVAL_F1)
            print(f"| {name} | {len(pages)} | {survive} ({_pct(survive, len(pages))}) | {len(kept) - survive} | "
                  + ", ".join(f"{r} {c}" for r, c in reasons.most_common(5)) + " |")
            summary[name, with_quality] = survive / len(pages) if pages else 0.0
    return summary


def trained_quality_keeps(root: Path):
    """The quality stage's verdicts with a classifier trained on the genre data (none of the article pages
    is in its training set): positives every zh-genres-clean document, zh-wiki paragraphs and the start of
    600 laws; negatives every zh-junk document and the demo generator's junk (the recipe of
    benchmarks/genres_quality.py, trained once on everything instead of per fold)."""
    from jinglian.demo.corpus import quality_training_sets
    from jinglian.stages.quality.model import TrainConfig, train
    from jinglian.stages.quality.stage import QualityParams

    positives = [d["text"] for d in read_jsonl_gz(root / "zh-genres-clean/docs.jsonl.gz")]
    positives += [json.loads(line)["text"] for line in open(root / "zh-wiki-mrc/unique_wiki_paragraphs.jsonl",
                                                            encoding="utf-8")]
    positives += [d["text"][:2000] for d in read_jsonl_gz(root / "zh-laws-lawrefbook/laws.jsonl.gz")[:600]]
    negatives = [d["text"] for d in read_jsonl_gz(root / "zh-junk/docs.jsonl.gz")]
    negatives += quality_training_sets(600, seed=1)[1]
    model, _ = train(positives, negatives, TrainConfig(valid_fraction=0.0))
    threshold = QualityParams().threshold
    return lambda texts: [score >= threshold for score in model.score(texts)]


# ---- hooks: the extraction and quality sides of issue 16 --------------------------------------------

def hook(module: str):
    try:
        return importlib.import_module(f"benchmarks.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"benchmarks.{module}":
            raise
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pages", action="store_true", help="skip the end-to-end page run")
    parser.add_argument("--skip-peer", action="store_true", help="skip the FineWeb-2/datatrove peer row")
    parser.add_argument("--skip-hooks", action="store_true", help="skip the extraction and quality modules")
    parser.add_argument("--datatrove-python", help="an interpreter with datatrove for the peer row (default: this one)")
    args = parser.parse_args()
    print_machine()
    root = bench_data()
    start = time.perf_counter()
    clean_docs = read_jsonl_gz(root / "zh-genres-clean/docs.jsonl.gz")
    junk_docs = read_jsonl_gz(root / "zh-junk/docs.jsonl.gz")
    long_by_genre, short_by_genre = defaultdict(list), defaultdict(list)
    for d in clean_docs:
        (short_by_genre if is_short(d["text"]) else long_by_genre)[d["genre"]].append(d["text"])
    junk = defaultdict(list)
    for d in junk_docs:
        junk[d["kind"]].append(d["text"])
    long_by_genre, short_by_genre = dict(sorted(long_by_genre.items())), dict(sorted(short_by_genre.items()))
    filter_matrix(long_by_genre, f"zh-genres-clean, documents of >= {SHORT_CHARS} characters: share kept")
    filter_matrix(short_by_genre, f"zh-genres-clean, short documents (< {SHORT_CHARS} characters): share kept")
    cleaning_table(long_by_genre)
    filter_matrix(dict(sorted(junk.items())), "zh-junk: share REJECTED per kind (higher is better)", rejected_view=True)
    if not args.skip_peer:
        peer_table(long_by_genre, dict(sorted(junk.items())), args.datatrove_python)
    reference_table(root)
    quality = None if args.skip_hooks else hook("genres_quality")
    extract = None if args.skip_hooks else hook("genres_extract")
    if not args.skip_pages:
        end_to_end(root, getattr(quality, "keeps", None) or trained_quality_keeps(root))
    for name, module in (("extraction (benchmarks/genres_extract.py)", extract),
                         ("perplexity and quality classifier (benchmarks/genres_quality.py)", quality)):
        if args.skip_hooks:
            continue
        if module is None:
            print(f"\n## {name}: module not present, not run")
        else:
            module.run(root)
    print(f"\n(total wall time {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
