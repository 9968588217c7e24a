"""Extraction quality and throughput: jinglian's ``extract`` stage vs trafilatura with its defaults.

Quality: precision / recall / F1 of the extracted text against hand-made ground
truth, as bags of tokens (lower-cased word tokens for the English
article-extraction-benchmark, non-space characters for the Chinese pages of
magic-html-article), averaged over pages (a page with no output scores 0).
Throughput: docs/s of trafilatura called in a plain loop on one core vs the
stage run by RayOps over Parquet partitions with ``ray.init(num_cpus=2)``.
Language ID: lid.176 (``jinglian langid fetch-model``) on Chinese and English
reference texts.

    python benchmarks/extract.py [--repeat 3] [--skip-throughput] [--sweep]
"""

from __future__ import annotations

import argparse
import collections
import functools
import gzip
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass

import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, bench_data, print_machine  # noqa: E402
from jinglian.core import documents as D  # noqa: E402
from jinglian.stages.extract.stage import ExtractParams, ExtractStage  # noqa: E402
from jinglian.stages.langid.stage import LangIdParams, LangIdStage, cjk_ratio  # noqa: E402

_WORD = re.compile(r"\w+")
_KANA = re.compile(r"[\u3040-\u30ff]")


@dataclass
class Page:
    key: str
    html: bytes
    url: str | None
    gold: str
    lang: str  # "en" | "zh": how the text is tokenised for scoring


def load_pages(root) -> tuple[list[Page], list[Page]]:
    aeb = root / "article-extraction-benchmark"
    truth = json.loads((aeb / "ground-truth.json").read_text())
    english = [Page(k, gzip.open(aeb / "html" / f"{k}.html.gz").read(), None, v["articleBody"], "en") for k, v in sorted(truth.items())]
    mh = root / "magic-html-article"
    base = json.loads((mh / "base.json").read_text())
    chinese = [
        Page(k, gzip.open(mh / "htmls" / f"{k}.html.gz").read(), v.get("url"), v["content"], "zh")
        for k, v in sorted(base.items())
        if cjk_ratio(v["content"]) > 0.3 and len(_KANA.findall(v["content"])) < 0.01 * len(v["content"])  # not Japanese
    ]
    return english, chinese


def tokens(text: str, lang: str) -> collections.Counter:
    if lang == "zh":
        return collections.Counter(c for c in text if not c.isspace())
    return collections.Counter(_WORD.findall(text.lower()))


def prf(pred: str, gold: str, lang: str) -> tuple[float, float, float]:
    p, g = tokens(pred or "", lang), tokens(gold, lang)
    overlap = sum((p & g).values())
    precision = overlap / sum(p.values()) if p else 0.0
    recall = overlap / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def mean_prf(preds: list[str], pages: list[Page]) -> tuple[float, float, float]:
    scores = [prf(t, p.gold, p.lang) for t, p in zip(preds, pages)]
    return tuple(sum(s[i] for s in scores) / len(scores) for i in range(3))


def run_trafilatura(pages: list[Page]) -> tuple[list[str], float]:
    import trafilatura

    start = time.perf_counter()
    out = [trafilatura.extract(p.html, url=p.url) or "" for p in pages]
    return out, time.perf_counter() - start


def pages_table(pages: list[Page]) -> pa.Table:
    return pa.table(
        {
            D.ID: [p.key for p in pages],
            D.TEXT: [""] * len(pages),
            "content": pa.array([p.html for p in pages], pa.binary()),
            "url": pa.array([p.url for p in pages], pa.string()),
        }
    )


def run_stage(pages: list[Page], stage: ExtractStage, batch_size: int = 32) -> tuple[list[str], float]:
    start = time.perf_counter()
    texts: list[str] = []
    for i in range(0, len(pages), batch_size):
        out = D.with_verdict_columns(stage.process(pages_table(pages[i : i + batch_size])))
        texts += [t if r is None else "" for t, r in zip(out[D.TEXT].to_pylist(), out[D.REASON].to_pylist())]
    return texts, time.perf_counter() - start


SWEEP = {
    "defaults": {},
    "favor_recall": {"favor_recall": True},
    "favor_precision": {"favor_precision": True},
    "no comments": {"include_comments": False},
    "favor_precision + no comments (stage default)": {"favor_precision": True, "include_comments": False},
    "favor_precision + no comments + no tables": {"favor_precision": True, "include_comments": False, "include_tables": False},
    "fast (no fallbacks)": {"fast": True},
}


def sweep(english: list[Page], chinese: list[Page]) -> None:
    """F1 of trafilatura option sets: how the stage's defaults were chosen."""
    import trafilatura

    print("\noption sweep (trafilatura.extract, mean F1 English / Chinese):")
    for name, options in SWEEP.items():
        f1 = [mean_prf([trafilatura.extract(p.html, url=p.url, **options) or "" for p in pages], pages)[2] for pages in (english, chinese)]
        print(f"  {name:48s} {f1[0]:.3f} / {f1[1]:.3f}")


# -- throughput ------------------------------------------------------------------------------------
_WORKER_STAGE: dict = {}


def _extract_partition(table: pa.Table, index: int) -> pa.Table:
    """One partition through the stage; the stage lives as long as the Ray worker (like an actor)."""
    stage = _WORKER_STAGE.get("stage")
    if stage is None:
        stage = _WORKER_STAGE["stage"] = ExtractStage(ExtractParams())
        stage.setup()
    return stage.process(table).drop_columns(["content"])


def throughput(pages: list[Page], repeat: int, partitions: int, rounds: int) -> list[dict]:
    """Alternate the two measurements ``rounds`` times (the machine's load drifts; both see the same drift)."""
    import ray

    from jinglian.core.dataops import TableSet, write_atomic

    from jinglian.pipeline.ray_ops import RayOps

    work = pages * repeat
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        per = -(-len(work) // partitions)
        for i in range(partitions):
            path = os.path.join(tmp, "in", f"part-{i:04d}.parquet")
            write_atomic(pages_table(work[i * per : (i + 1) * per]), path)
            paths.append(path)
        # our own Ray, not a cluster that happens to run; workers import this module (not a pickled
        # copy of __main__), so the per-worker stage in _WORKER_STAGE survives from task to task
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
        from benchmarks.extract import _extract_partition as task_fn

        try:
            ops = RayOps(os.path.join(tmp, "work"), num_cpus=1)
            ops.map(TableSet(paths[:2]), functools.partial(task_fn), name="warmup")  # start both workers
            for r in range(rounds):
                load = os.getloadavg()[0]
                _, base_s = run_trafilatura(work)
                start = time.perf_counter()
                out = ops.map(TableSet(paths), functools.partial(task_fn), name=f"run{r}")
                ray_s = time.perf_counter() - start
                assert out.num_rows() == len(work)
                results.append({"docs": len(work), "base": len(work) / base_s, "ray": len(work) / ray_s, "ratio": base_s / ray_s, "load": load})
        finally:
            ray.shutdown()
    return results


# -- language ID -----------------------------------------------------------------------------------
def langid_sets(root, english: list[Page], chinese: list[Page]) -> dict[str, tuple[str, list[str]]]:
    wiki_zh = [json.loads(line)["text"] for line in open(root / "zh-wiki-mrc" / "unique_wiki_paragraphs.jsonl", encoding="utf-8")]
    wikitext = [
        line.strip()
        for line in open(root / "english-text" / "wikitext-2-test.txt", encoding="utf-8")
        if len(line.strip()) > 200 and not line.strip().startswith("=")
    ]
    return {
        "magic-html-article Chinese ground truth": ("zh", [p.gold for p in chinese]),
        "zh-wiki-mrc paragraphs (Simplified + Traditional)": ("zh", wiki_zh),
        "article-extraction-benchmark ground truth": ("en", [p.gold for p in english]),
        "wikitext-2 test paragraphs": ("en", wikitext),
    }


def langid_report(sets: dict) -> list[str]:
    stage = LangIdStage(LangIdParams())
    stage.setup()
    lines = []
    for name, (expected, texts) in sets.items():
        langs, _ = stage.predict(texts)
        wrong = collections.Counter(lang for lang in langs if lang != expected)
        lines.append(f"{name}: {len(texts)} docs, expected {expected}, predicted otherwise {sum(wrong.values())} {dict(wrong.most_common(8))}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="copies of the page set in the throughput run")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements of each side")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-quality", action="store_true", help="throughput (and language ID) only")
    parser.add_argument("--sweep", action="store_true", help="also score trafilatura option sets")
    args = parser.parse_args()
    print_machine()
    root = bench_data()
    english, chinese = load_pages(root)
    stage = ExtractStage(ExtractParams())
    stage.setup()
    run_stage(english[:2], stage)  # start the isolated worker before timing
    for label, pages in () if args.skip_quality else (("English (article-extraction-benchmark, word tokens)", english), ("Chinese (magic-html-article, characters)", chinese)):
        base_texts, base_s = run_trafilatura(pages)
        ours, ours_s = run_stage(pages, stage)
        b, o = mean_prf(base_texts, pages), mean_prf(ours, pages)
        print(f"\n{label}: {len(pages)} pages")
        print(f"  trafilatura defaults : P {b[0]:.3f}  R {b[1]:.3f}  F1 {b[2]:.3f}  {len(pages) / base_s:.1f} docs/s")
        print(f"  jinglian extract     : P {o[0]:.3f}  R {o[1]:.3f}  F1 {o[2]:.3f}  {len(pages) / ours_s:.1f} docs/s")
        print(f"  F1 ratio (ours / trafilatura): {o[2] / b[2]:.3f}")
    if args.sweep:
        sweep(english, chinese)
    if not args.skip_throughput:
        print(f"\nthroughput: trafilatura.extract (defaults) in a loop on one core vs the extract stage on RayOps, ray.init(num_cpus=2), {args.partitions} partitions")
        for t in throughput(english + chinese, args.repeat, args.partitions, args.rounds):
            print(f"  {t['docs']} pages: trafilatura {t['base']:.1f} docs/s, stage x2 workers {t['ray']:.1f} docs/s, "
                  f"ratio {t['ratio']:.2f}x (1-min load average at start {t['load']:.1f} on {os.cpu_count()} cores)")
    print("\nlanguage ID (lid.176):")
    for line in langid_report(langid_sets(root, english, chinese)):
        print("  " + line)


if __name__ == "__main__":
    main()
