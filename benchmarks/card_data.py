"""The dataset card's measurements over a run's Parquet outputs: polars lazy scans (cards/rundata.py)
against the row-loop pyarrow version they replaced (kept below as the baseline), same results.

    python3 benchmarks/card_data.py [--kept 200000] [--rejected 400000] [--files 16]

Writes a synthetic run directory (docs/ and rejected/ Parquet with the columns the card reads:
text, lang, quality_score; reason, source, duplicate_of, quality_score), measures it with both,
checks that they agree and prints the time of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_machine  # noqa: E402
from jinglian.core import documents as D  # noqa: E402
from jinglian.cards import rundata  # noqa: E402
from jinglian.cards.rundata import LANG, QUALITY, UNKNOWN_LANG, RunData  # noqa: E402


def baseline_measure(data: RunData, max_docs: int) -> None:
    """The row-loop version (pyarrow batches, Python loops over rows and languages)."""
    lengths: dict[str, list] = {}
    quality = []
    for file in rundata._part_files(data.path, "docs"):
        if data.sampled_docs >= max_docs:
            break
        pf = pq.ParquetFile(file)
        columns = [c for c in (D.TEXT, LANG, QUALITY) if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(columns=columns, batch_size=8192):
            batch = batch.slice(0, max_docs - data.sampled_docs)
            data.sampled_docs += batch.num_rows
            n = np.asarray(pc.utf8_length(batch.column(D.TEXT)).to_numpy(zero_copy_only=False))
            langs = batch.column(LANG).to_pylist() if LANG in columns else [UNKNOWN_LANG] * len(n)
            for lang in set(langs):
                sel = np.fromiter((l == lang for l in langs), bool, len(langs))
                lengths.setdefault(lang or UNKNOWN_LANG, []).append(n[sel])
            if QUALITY in columns:
                values = np.asarray(batch.column(QUALITY).to_numpy(zero_copy_only=False), dtype=float)
                quality.append(values[~np.isnan(values)])
            if data.sampled_docs >= max_docs:
                break
    data.lengths = {k: np.concatenate(v) for k, v in lengths.items()}
    if quality:
        data.quality["kept"] = np.concatenate(quality)
    by_source: dict[str, Counter] = {}
    clusters: Counter = Counter()
    rejected_quality: dict[str, list] = {}
    for file in rundata._part_files(data.path, "rejected"):
        pf = pq.ParquetFile(file)
        names = pf.schema_arrow.names
        columns = [c for c in (D.REASON, D.SOURCE, D.DUPLICATE_OF, QUALITY) if c in names]
        table = pf.read(columns=columns)
        reasons = table.column(D.REASON).to_pylist()
        sources = table.column(D.SOURCE).to_pylist() if D.SOURCE in columns else [""] * len(reasons)
        for reason, source in zip(reasons, sources):
            by_source.setdefault(reason, Counter())[source or ""] += 1
        if D.DUPLICATE_OF in columns:
            for reason, dup in zip(reasons, table.column(D.DUPLICATE_OF).to_pylist()):
                if dup is not None:
                    clusters[dup] += 1
                    data.duplicate_reasons.add(reason)
        if QUALITY in columns:
            scores = np.asarray(table.column(QUALITY).to_numpy(zero_copy_only=False), dtype=float)
            for reason, score in zip(reasons, scores):
                if not np.isnan(score):
                    rejected_quality.setdefault(f"rejected by {reason.split(':', 1)[0]}", []).append(score)
    data.rejected_by_source = dict(sorted(by_source.items()))
    data.cluster_sizes = Counter(n + 1 for n in clusters.values())
    for name, scores in sorted(rejected_quality.items()):
        data.quality[name] = np.asarray(scores)


def polars_measure(data: RunData, max_docs: int) -> None:
    rundata._measure_kept(data, max_docs)
    rundata._measure_rejected(data)


def write_run(path: str, kept: int, rejected: int, files: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    words = np.array(["数据", "精炼", "the", "corpus", "中文", "网页", "quality", "。", "，", "dedup"])
    langs = np.array(["zh", "en", "ja", "", None], dtype=object)
    reasons = np.array([f"{stage}:{rule}" for stage in ("filter", "langid", "quality", "dedup", "crawl")
                        for rule in ("a", "b", "c", "d")])
    sources = np.array(["web", "news", "forum", None], dtype=object)
    for kind in ("docs", "rejected"):
        os.makedirs(os.path.join(path, kind), exist_ok=True)
    for f in range(files):
        n = kept // files
        texts = ["".join(rng.choice(words, rng.integers(5, 200))) for _ in range(n)]
        q = rng.random(n)
        q[rng.random(n) < 0.05] = np.nan
        pq.write_table(pa.table({D.TEXT: texts, LANG: rng.choice(langs, n, p=[0.6, 0.3, 0.05, 0.03, 0.02]),
                                 QUALITY: q}), os.path.join(path, "docs", f"part-{f:05d}.parquet"))
        n = rejected // files
        dup = np.where(rng.random(n) < 0.3, [f"d{i}" for i in rng.integers(0, rejected // 4, n)], None)
        q = np.where(rng.random(n) < 0.5, rng.random(n), np.nan)
        pq.write_table(pa.table({D.REASON: rng.choice(reasons, n), D.SOURCE: rng.choice(sources, n),
                                 D.DUPLICATE_OF: pa.array(dup.tolist(), pa.string()), QUALITY: q}),
                       os.path.join(path, "rejected", f"part-{f:05d}.parquet"))


def same(a: RunData, b: RunData) -> None:
    assert a.sampled_docs == b.sampled_docs
    assert sorted(a.lengths) == sorted(b.lengths)
    for lang in a.lengths:  # sorted: the baseline appended "" and null languages (both "unknown") in set order
        assert np.array_equal(np.sort(a.lengths[lang]), np.sort(b.lengths[lang])), lang
    assert sorted(a.quality) == sorted(b.quality)
    for name in a.quality:
        assert np.array_equal(a.quality[name], b.quality[name]), name
    assert a.rejected_by_source == b.rejected_by_source
    assert a.cluster_sizes == b.cluster_sizes and list(a.cluster_sizes) == list(b.cluster_sizes)
    assert a.duplicate_reasons == b.duplicate_reasons


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kept", type=int, default=200_000)
    ap.add_argument("--rejected", type=int, default=400_000)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory() as tmp:
        write_run(tmp, args.kept, args.rejected, args.files)
        print(f"run: {args.kept} kept, {args.rejected} rejected rows in {args.files} files each")
        times: dict[str, list[float]] = {"baseline (pyarrow, row loops)": [], "polars lazy scans": []}
        results = {}
        for _ in range(args.repeat):
            for name, measure in zip(times, (baseline_measure, polars_measure)):
                data = RunData(tmp, {}, {}, [], None, None)
                start = time.perf_counter()
                measure(data, 200_000)
                times[name].append(time.perf_counter() - start)
                results[name] = data
        same(*results.values())
        best = {name: min(t) for name, t in times.items()}
        for name, t in best.items():
            print(f"{name:<32} {t:7.3f} s (best of {args.repeat})")
        base, ours = best.values()
        print(f"ratio: polars is {base / ours:.1f}x the baseline's speed (same results)")


if __name__ == "__main__":
    main()
