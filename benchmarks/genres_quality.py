"""Quality classifier and perplexity across genres: cross-fitted keep rates per clean genre, reject rates per junk kind.

Every figure here is out of sample. Documents of ``zh-genres-clean`` and
``zh-junk`` are dealt into ``k`` folds by a stable hash of their id, within each
genre / junk kind (so every fold holds every genre); each fold is scored by a
classifier and a language model trained without it. What the other folds
contribute to training:

* classifier positives: their clean genre documents, plus zh-wiki-mrc paragraphs,
  the first 2,000 characters of zh-laws documents and zh-tech-d2l sections;
  negatives: their junk documents plus the demo generator's junk (spam,
  boilerplate, keyword stuffing, gibberish, shop marketing copy);
* the language model: the same clean text (never junk).

Reported per genre (documents of at least 200 characters; short ones apart) and
per junk kind: the default ``filter`` (``FilterStage()``, whatever its defaults
are when this runs), the classifier at the stage's threshold, the perplexity rule
at ``max_perplexity``, and their combinations. A threshold sweep shows what each
choice costs the weakest genre.

    python benchmarks/genres_quality.py [--folds 5] [--threshold 0.5] [--max-perplexity 1000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import bench_data, print_machine  # noqa: E402
from jinglian.demo.corpus import quality_training_sets  # noqa: E402
from jinglian.stages.filter import FilterStage  # noqa: E402
from jinglian.stages.perplexity.model import CharNgramLM, LMConfig  # noqa: E402
from jinglian.stages.quality.model import TrainConfig, train  # noqa: E402
from jinglian.stages.quality.stage import QualityParams  # noqa: E402

SHORT_CHARS = 200
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)
MAX_PERPLEXITIES = (300, 500, 1000, 2000)


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Data:
    clean: list[dict]  # zh-genres-clean rows: id, genre, text, short
    junk: list[dict]  # zh-junk rows: id, kind, text
    reference: list[str]  # clean text that is never evaluated here (wiki, laws, textbook)
    generated_junk: list[str] = field(default_factory=list)


def load(root: Path, generated: int = 600) -> Data:
    wiki = [r["text"] for r in _read_jsonl(root / "zh-wiki-mrc/unique_wiki_paragraphs.jsonl")]
    laws = [r["text"][:2000] for r in _read_jsonl(root / "zh-laws-lawrefbook/laws.jsonl.gz")][:600]
    d2l = [s.strip() for r in _read_jsonl(root / "zh-tech-d2l/d2l-zh_chapters.jsonl")
           for s in re.split(r"\n(?=## )", r["text"]) if len(s.strip()) > 200]
    clean = _read_jsonl(root / "zh-genres-clean/docs.jsonl.gz")
    junk = _read_jsonl(root / "zh-junk/docs.jsonl.gz")
    for row in junk:  # the kind names are long descriptions: keep the part before the parenthesis
        row["kind"] = row["kind"].split(" (")[0]
    return Data(clean, junk, wiki + laws + d2l, quality_training_sets(generated, seed=1)[1])


def folds(rows: list[dict], group: str, k: int) -> np.ndarray:
    """Fold of each row: rows of one group ordered by a hash of their id, then dealt round-robin."""
    out = np.zeros(len(rows), dtype=int)
    members = defaultdict(list)
    for i, row in enumerate(rows):
        members[row[group]].append(i)
    for idx in members.values():
        idx.sort(key=lambda i: hashlib.sha1(str(rows[i]["id"]).encode()).hexdigest())
        for n, i in enumerate(idx):
            out[i] = n % k
    return out


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (fastText trains in a child process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Scores:
    quality: np.ndarray
    perplexity: np.ndarray


def cross_fit(data: Data, k: int, out=print) -> tuple[Scores, Scores, float, float]:
    """Out-of-fold classifier scores and perplexities of the clean and junk rows (and the training CPU seconds)."""
    fc, fj = folds(data.clean, "genre", k), folds(data.junk, "kind", k)
    clean = Scores(np.zeros(len(data.clean)), np.zeros(len(data.clean)))
    junk = Scores(np.zeros(len(data.junk)), np.zeros(len(data.junk)))
    classifier_s = lm_s = 0.0
    for f in range(k):
        positives = data.reference + [r["text"] for r, g in zip(data.clean, fc) if g != f]
        negatives = data.generated_junk + [r["text"] for r, g in zip(data.junk, fj) if g != f]
        start = cpu_s()
        classifier, _ = train(positives, negatives, TrainConfig(valid_fraction=0.0))
        classifier_s += cpu_s() - start
        for rows, fold_of, scores in ((data.clean, fc, clean), (data.junk, fj, junk)):
            idx = np.flatnonzero(fold_of == f)
            scores.quality[idx] = classifier.score([rows[i]["text"] for i in idx])
        out(f"  fold {f + 1}/{k}: classifier trained on {len(positives):,} clean / {len(negatives):,} junk texts")
    for f in range(k):
        clean_text = data.reference + [r["text"] for r, g in zip(data.clean, fc) if g != f]
        start = time.process_time()
        lm = CharNgramLM.train(clean_text, LMConfig())
        lm_s += time.process_time() - start
        for rows, fold_of, scores in ((data.clean, fc, clean), (data.junk, fj, junk)):
            idx = np.flatnonzero(fold_of == f)
            scores.perplexity[idx] = lm.perplexity([rows[i]["text"] for i in idx])
        out(f"  fold {f + 1}/{k}: language model trained on {len(clean_text):,} clean texts")
    return clean, junk, classifier_s, lm_s


_TRAINED_ON_ALL = {}


def keeps(texts: list[str], bench_dir: Path | str | None = None) -> list[bool]:
    """The quality stage's verdicts (stage's default threshold) from a classifier trained with this module's
    recipe on every clean and junk document (for text none of them is: benchmarks/genres.py's pages)."""
    root = Path(bench_dir) if bench_dir else bench_data()
    if root not in _TRAINED_ON_ALL:
        data = load(root)
        positives = data.reference + [r["text"] for r in data.clean]
        negatives = data.generated_junk + [r["text"] for r in data.junk]
        _TRAINED_ON_ALL[root] = train(positives, negatives, TrainConfig(valid_fraction=0.0))[0]
    threshold = QualityParams().threshold
    return [bool(s >= threshold) for s in _TRAINED_ON_ALL[root].score(texts)]


def _table(out, header: list[str], rows: list[list]) -> None:
    out("| " + " | ".join(header) + " |")
    out("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        out("| " + " | ".join(x if isinstance(x, str) else f"{x:.0%}" if isinstance(x, float) else str(x)
                              for x in row) + " |")


def run(bench_dir: Path | str | None = None, out=print, folds_k: int = 5, threshold: float | None = None,
        max_perplexity: float = 1000.0) -> dict:
    """Cross-fit, print the tables, return the summary figures (keep/reject rates per genre and kind)."""
    root = Path(bench_dir) if bench_dir else bench_data()
    threshold = QualityParams().threshold if threshold is None else threshold
    data = load(root)
    out(f"clean: {len(data.clean):,} zh-genres-clean documents; junk: {len(data.junk):,} zh-junk documents; "
        f"{folds_k}-fold cross-fitting by a hash of the id within each genre/kind")
    out(f"always in training: {len(data.reference):,} reference texts (wiki, laws, d2l) as positives, "
        f"{len(data.generated_junk):,} generated junk texts as negatives")
    clean, junk, classifier_s, lm_s = cross_fit(data, folds_k, out)
    rules = FilterStage()
    start = time.process_time()
    filter_ok_clean = np.array([rules.judge(r["text"]) is None for r in data.clean])
    filter_ok_junk = np.array([rules.judge(r["text"]) is None for r in data.junk])
    filter_s = time.process_time() - start

    def kept(s: Scores, t: float = threshold, p: float = max_perplexity):
        return s.quality >= t, s.perplexity <= p

    q_clean, p_clean = kept(clean)
    q_junk, p_junk = kept(junk)
    summary: dict = {"threshold": threshold, "max_perplexity": max_perplexity, "folds": folds_k,
                     "genres": {}, "genres_short": {}, "junk": {}}

    # Short by length, as benchmarks/genres.py and the issue count them (the data's own `short` flag marks its
    # short-text collections, and leaves 58 product reviews of < 200 characters among the long ones).
    short = np.array([len(r["text"]) < SHORT_CHARS for r in data.clean])
    genres = sorted({r["genre"] for r in data.clean})
    for is_short, title, key in ((False, f"at least {SHORT_CHARS} characters", "genres"),
                                 (True, f"short (< {SHORT_CHARS} characters)", "genres_short")):
        out(f"\n### Clean genres, documents {title}: share kept (out of fold; classifier at {threshold}, "
            f"perplexity <= {max_perplexity:g})")
        rows = []
        for genre in genres:
            m = np.array([r["genre"] == genre for r in data.clean]) & (short == is_short)
            if not m.any():
                continue
            figures = {"n": int(m.sum()), "filter": float(filter_ok_clean[m].mean()),
                       "classifier": float(q_clean[m].mean()), "perplexity": float(p_clean[m].mean()),
                       "filter+classifier": float((filter_ok_clean & q_clean)[m].mean()),
                       "filter+classifier+perplexity": float((filter_ok_clean & q_clean & p_clean)[m].mean()),
                       "median_perplexity": float(np.median(clean.perplexity[m]))}
            summary[key][genre] = figures
            rows.append([genre, figures["n"], figures["filter"], figures["classifier"], figures["perplexity"],
                         figures["filter+classifier"], figures["filter+classifier+perplexity"],
                         f"{figures['median_perplexity']:.0f}"])
        _table(out, ["genre", "docs", "filter", "classifier", "perplexity", "filter + classifier",
                     "filter + classifier + perplexity", "median perplexity"], rows)

    out(f"\n### Junk kinds: share rejected (out of fold; classifier at {threshold}, perplexity <= {max_perplexity:g})")
    rows = []
    for kind in sorted({r["kind"] for r in data.junk}):
        m = np.array([r["kind"] == kind for r in data.junk])
        figures = {"n": int(m.sum()), "filter": float(1 - filter_ok_junk[m].mean()),
                   "classifier": float(1 - q_junk[m].mean()), "perplexity": float(1 - p_junk[m].mean()),
                   "filter+classifier": float(1 - (filter_ok_junk & q_junk)[m].mean()),
                   "filter+classifier+perplexity": float(1 - (filter_ok_junk & q_junk & p_junk)[m].mean()),
                   "median_perplexity": float(np.median(junk.perplexity[m]))}
        summary["junk"][kind] = figures
        rows.append([kind, figures["n"], figures["filter"], figures["classifier"], figures["perplexity"],
                     figures["filter+classifier"], figures["filter+classifier+perplexity"],
                     f"{figures['median_perplexity']:.0f}"])
    _table(out, ["junk kind", "docs", "filter", "classifier", "perplexity", "filter + classifier",
                 "filter + classifier + perplexity", "median perplexity"], rows)

    long_genres = [g for g in genres if g in summary["genres"]]
    kinds = sorted(summary["junk"])

    long_masks = [np.array([r["genre"] == g for r in data.clean]) & ~short for g in long_genres]
    kind_masks = [np.array([r["kind"] == k for r in data.junk]) for k in kinds]

    def weakest(q_ok_clean, q_ok_junk):
        alone = min(float(q_ok_clean[m].mean()) for m in long_masks)
        keep = min(float((filter_ok_clean & q_ok_clean)[m].mean()) for m in long_masks)
        reject = min(float(1 - (filter_ok_junk & q_ok_junk)[m].mean()) for m in kind_masks)
        reject_alone = min(float(1 - q_ok_junk[m].mean()) for m in kind_masks)
        return alone, keep, reject_alone, reject

    out("\n### Threshold sweep: weakest genre's keep rate (documents >= 200 chars), weakest junk kind's reject rate")
    rows, summary["sweep"] = [], {}
    for t in THRESHOLDS:
        figures = weakest(clean.quality >= t, junk.quality >= t)
        summary["sweep"][t] = dict(zip(("weakest_genre_kept_by_classifier", "weakest_genre_kept",
                                        "weakest_junk_rejected_by_classifier", "weakest_junk_rejected"), figures))
        rows.append([f"classifier >= {t}", *figures])
    for p in MAX_PERPLEXITIES:
        rows.append([f"classifier >= {threshold} and perplexity <= {p}",
                     *weakest(q_clean & (clean.perplexity <= p), q_junk & (junk.perplexity <= p))])
    _table(out, ["rule", "genre kept: rule alone", "genre kept: filter + rule", "junk rejected: rule alone",
                 "junk rejected: filter + rule"], rows)

    texts = [r["text"] for r in data.clean]
    chars = sum(len(t) for t in texts) / len(texts)
    out(f"\ntraining CPU per fold: classifier {classifier_s / folds_k:.1f} s, language model {lm_s / folds_k:.1f} s; "
        f"default filter judged {len(data.clean) + len(data.junk):,} docs in {filter_s:.1f} s CPU")
    lm = CharNgramLM.train(data.reference, LMConfig())
    start = time.process_time()
    lm.perplexity(texts)
    rate = len(texts) / (time.process_time() - start)
    out(f"perplexity scoring: {rate:,.0f} docs/s per core (CPU time of one process; mean {chars:.0f} characters)")
    summary["perplexity_docs_per_s"] = rate
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None, help="classifier threshold (default: the stage's)")
    parser.add_argument("--max-perplexity", type=float, default=1000.0)
    parser.add_argument("--json", default="", help="also write the summary figures here")
    args = parser.parse_args()
    print_machine()
    summary = run(None, print, args.folds, args.threshold, args.max_perplexity)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
