"""Dedup benchmark on zh-laws-lawrefbook (laws in several amended versions: real near-duplicates).

1. Signature throughput: jinglian (raw text -> shingles -> signatures, vectorised)
   vs ``datasketch.MinHash(num_perm=128)`` with its default SHA-1 hash, updated per
   document with the same shingles (prepared outside its timing). Chunks of
   documents alternate between the two so both see the same machine load.
2. Quality on a random sample: ground truth = exact Jaccard of every pair
   (sparse matrix product over shingle ids), greedy keep-first over it. Compared:
   the dedup stage, and datasketch MinHashLSH (its default bands) + connected
   components without verification (text-dedup style).
3. Peak memory per worker: the corpus replicated 1x/2x/4x (copies perturbed by
   random character edits), input partitions of fixed size (``--per-part``; 0:
   the whole corpus in one partition that grows with it), fixed memory budget;
   every map/shuffle task runs in a freshly forked process and reports its peak
   RSS minus that of an idle forked worker (the pages it shares with the driver).

Run: python benchmarks/dedup.py [--throughput-docs N] [--sample N] [--memory-docs N] [--per-part N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import bench_data, print_machine  # noqa: E402
from jinglian.core import documents as D  # noqa: E402
from jinglian.core.dataops import DataOps, LocalOps, TableSet, write_atomic  # noqa: E402
from jinglian.core.context import RunContext  # noqa: E402
from jinglian.stages.dedup import DedupParams, DedupStage, minhash, text  # noqa: E402

THRESHOLD = 0.8
NGRAM = 5


def load_laws() -> list[str]:
    path = bench_data() / "zh-laws-lawrefbook" / "laws.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


# -- 1. throughput ------------------------------------------------------------------------------


def throughput(docs: list[str], chunk: int = 25) -> None:
    from datasketch import MinHash

    text._tables()  # built once per process in both cases' worker; not part of a document's cost
    a, b = minhash.permutations(128, 1)
    ours = theirs = 0.0
    shingles = 0
    for start in range(0, len(docs), chunk):
        part = docs[start : start + chunk]
        t0 = time.perf_counter()
        hashes, offsets = text.shingle_hash_batch(part, NGRAM)
        minhash.signatures(hashes, offsets, a, b)
        ours += time.perf_counter() - t0
        shingles += len(hashes)
        prepared = [[" ".join(s).encode("utf-8") for s in text.shingles(d, NGRAM)] for d in part]
        t0 = time.perf_counter()
        for doc_shingles in prepared:
            m = MinHash(num_perm=128)
            m.update_batch(doc_shingles)
        theirs += time.perf_counter() - t0
    chars = sum(len(d) for d in docs)
    print(f"\n## signature throughput ({len(docs)} docs, {chars:,} chars, {shingles:,} shingles, num_perm=128)")
    print(f"jinglian   : {ours:7.2f} s  {len(docs) / ours:8.1f} docs/s  {shingles / ours / 1e6:6.2f} M shingles/s"
          " (from raw text, shingling included)")
    print(f"datasketch : {theirs:7.2f} s  {len(docs) / theirs:8.1f} docs/s  {shingles / theirs / 1e6:6.2f} M shingles/s"
          " (update_batch, SHA-1, shingles given)")
    print(f"ratio      : {theirs / ours:.1f}x")
    # Parity on a few documents with the same hash function (the test proves it in general).
    hashes, offsets = text.shingle_hash_batch(docs[:5], NGRAM)
    sigs = minhash.signatures(hashes, offsets, a, b)
    for d, sig in zip(docs[:5], sigs):
        m = MinHash(num_perm=128, hashfunc=text.shingle_hash)
        m.update_batch(text.shingles(d, NGRAM))
        assert np.array_equal(m.hashvalues, sig)
    print("parity     : jinglian == datasketch.MinHash(hashfunc=shingle_hash) on 5 documents")


# -- 2. quality ---------------------------------------------------------------------------------


def write_partitions(docs: list[str], out_dir: str, per_part: int) -> TableSet:
    paths = []
    for part, start in enumerate(range(0, len(docs), per_part)):
        chunk = docs[start : start + per_part]
        table = pa.table(
            {
                D.ID: [f"d{start + i}" for i in range(len(chunk))],
                D.TEXT: chunk,
                D.PART: pa.array([part] * len(chunk), pa.int32()),
                D.ROW: pa.array([D.row_key(part, i) for i in range(len(chunk))], pa.int64()),
            }
        )
        path = os.path.join(out_dir, "in", f"part-{part:05d}.parquet")
        write_atomic(D.with_verdict_columns(table), path)
        paths.append(path)
    return TableSet(paths)


def all_pairs_jaccard(docs: list[str]) -> np.ndarray:
    from scipy import sparse

    vocab: dict = {}
    rows, cols = [], []
    sizes = np.zeros(len(docs))
    for i, d in enumerate(docs):
        ids = {vocab.setdefault(s, len(vocab)) for s in text.shingles(d, NGRAM)}
        rows += [i] * len(ids)
        cols += ids
        sizes[i] = len(ids)
    x = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(docs), len(vocab)))
    inter = (x @ x.T).toarray()
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, 1.0)
    np.fill_diagonal(jac, 0)
    return jac


def greedy_truth(jac: np.ndarray, threshold: float) -> set[int]:
    kept: list[int] = []
    removed = set()
    for i in range(len(jac)):
        if kept and jac[i, kept].max() >= threshold:
            removed.add(i)
        else:
            kept.append(i)
    return removed


def lsh_components_baseline(docs: list[str], threshold: float) -> set[int]:
    """datasketch MinHashLSH (default weights) + union-find, no verification, keep the first of a component."""
    from datasketch import MinHash, MinHashLSH

    a, b = minhash.permutations(128, 1)
    hashes, offsets = text.shingle_hash_batch(docs, NGRAM)
    sigs = minhash.signatures(hashes, offsets, a, b)
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    sketches = [MinHash(hashvalues=s, scheme="affine32") for s in sigs]
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    return {i for i in range(len(docs)) if find(i) != i}


def score(name: str, removed: set[int], truth: set[int], jac: np.ndarray, pairs: list[tuple[int, int]] | None):
    tp = len(removed & truth)
    precision = tp / len(removed) if removed else 1.0
    recall = tp / len(truth) if truth else 1.0
    line = f"{name:34s} removed {len(removed):4d}  precision {precision:.4f}  recall {recall:.4f}"
    if pairs is not None:
        below = [jac[i, j] for i, j in pairs if jac[i, j] < THRESHOLD]
        line += f"  removal edges below threshold: {len(below)}/{len(pairs)}"
        if below:
            line += f" (J {min(below):.2f}-{max(below):.2f})"
    print(line)


def pick_sample(docs: list[str], sample: int, seed: int, enriched: bool) -> list[int]:
    """Random documents; ``enriched``: first every law whose title line is shared by another
    (its amended versions: the real near-duplicates), then random others up to ``sample``."""
    rng = random.Random(seed)
    picked: list[int] = []
    if enriched:
        titles: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            titles.setdefault(d.split("\n", 1)[0], []).append(i)
        picked = sorted(i for group in titles.values() if len(group) > 1 for i in group)[:sample]
    rest = [i for i in range(len(docs)) if i not in set(picked)]
    picked += rng.sample(rest, max(0, min(sample, len(docs)) - len(picked)))
    rng.shuffle(picked)
    return picked


def quality(docs: list[str], sample: int, seed: int, enriched: bool) -> None:
    sample_docs = [docs[i] for i in pick_sample(docs, sample, seed, enriched)]
    t0 = time.perf_counter()
    jac = all_pairs_jaccard(sample_docs)
    truth_pairs = int((np.triu(jac, 1) >= THRESHOLD).sum())
    truth = greedy_truth(jac, THRESHOLD)
    kind = "docs: all laws sharing a title with another + random others" if enriched else "random docs"
    print(f"\n## quality at Jaccard {THRESHOLD} ({len(sample_docs)} {kind}, seed {seed}, {NGRAM}-token shingles)")
    print(f"ground truth: {truth_pairs} pairs >= {THRESHOLD} by exact all-pairs Jaccard, {len(truth)} docs to remove"
          f" (greedy keep-first) [{time.perf_counter() - t0:.1f} s]")
    with tempfile.TemporaryDirectory() as tmp:
        rows = write_partitions(sample_docs, tmp, per_part=100)
        stage = DedupStage(DedupParams(exact=True), RunContext(output_dir=tmp, work_dir=os.path.join(tmp, "work")))
        t0 = time.perf_counter()
        stats = stage.prepare(rows, LocalOps(os.path.join(tmp, "work", "ops")))
        wall = time.perf_counter() - t0
        verdicts = pa.concat_tables(pq.read_table(os.path.join(stage.verdict_dir, f)) for f in
                                    sorted(os.listdir(stage.verdict_dir)) if f.endswith(".parquet"))
    index = {D.row_key(i // 100, i % 100): i for i in range(len(sample_docs))}
    id_index = {f"d{i}": i for i in range(len(sample_docs))}
    removed = {index[r] for r, reason in zip(verdicts[D.ROW].to_pylist(), verdicts[D.REASON].to_pylist()) if reason}
    pairs = [(index[r], id_index[d]) for r, d in zip(verdicts[D.ROW].to_pylist(), verdicts[D.DUPLICATE_OF].to_pylist())
             if d is not None]
    print(f"jinglian dedup: bands={stats['bands']} rows={stats['rows']}, {stats['candidate_pairs']} candidate pairs,"
          f" {stats['verified_pairs']} verified, {stats['cc_rounds']} component rounds, prepare {wall:.1f} s")
    score("jinglian dedup (exact + minhash)", removed, truth, jac, pairs)
    score("datasketch LSH + components", lsh_components_baseline(sample_docs, THRESHOLD), truth, jac, None)


# -- 3. memory ----------------------------------------------------------------------------------


def _measured(fn, args):
    result = fn(*args)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class ProcessOps(DataOps):
    """Every task in a freshly forked process (the worker); records each task's peak RSS."""

    def __init__(self, work_dir: str, workers: int = 2):
        super().__init__(work_dir)
        self.workers = workers
        self.peaks: list[int] = []
        self.by_step: dict[str, int] = {}

    def _new_dir(self, name: str) -> str:
        self._step = name
        return super()._new_dir(name)

    def _run_all(self, calls: list) -> list:
        with multiprocessing.get_context("fork").Pool(self.workers, maxtasksperchild=1) as pool:
            out = pool.starmap(_measured, calls)
        self.peaks += [peak for _, peak in out]
        step = getattr(self, "_step", "")
        self.by_step[step] = max([self.by_step.get(step, 0)] + [peak for _, peak in out])
        return [r for r, _ in out]


def _fork_baseline() -> int:
    """Peak RSS of a forked worker that does nothing: what it shares with the driver, subtracted below."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_measured, (int, ("0",)))[1]


def _datasketch_index(corpus: list[str]) -> int:
    """Baseline: one process holds every signature in a datasketch MinHashLSH (text-dedup's design)."""
    from datasketch import MinHash, MinHashLSH

    a, b = minhash.permutations(128, 1)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    for start in range(0, len(corpus), 100):
        hashes, offsets = text.shingle_hash_batch(corpus[start : start + 100], NGRAM)
        for i, sig in enumerate(minhash.signatures(hashes, offsets, a, b)):
            lsh.insert(start + i, MinHash(hashvalues=sig, scheme="affine32"))
    return len(lsh.keys)


def perturb(rng: random.Random, doc: str, rate: float) -> str:
    chars = list(doc)
    for _ in range(max(1, int(len(chars) * rate))):
        chars[rng.randrange(len(chars))] = chr(0x4E00 + rng.randrange(20000))
    return "".join(chars)


def memory(docs: list[str], factors: list[int], per_part: int, budget_mb: float) -> None:
    print(f"\n## peak memory per worker ({len(docs)} docs x factor, copies with 1% characters edited,"
          f" {per_part or 'all'} docs per input partition, memory_budget_mb={budget_mb})")
    text._tables()  # built in the driver, shared by the forked workers
    rng = random.Random(0)
    for factor in factors:
        corpus = list(docs)
        for _ in range(factor - 1):
            corpus += [perturb(rng, d, 0.01) for d in docs]
        with tempfile.TemporaryDirectory() as tmp:
            rows = write_partitions(corpus, tmp, per_part or len(corpus))
            stage = DedupStage(DedupParams(memory_budget_mb=budget_mb),
                               RunContext(output_dir=tmp, work_dir=os.path.join(tmp, "work")))
            ops = ProcessOps(os.path.join(tmp, "work", "ops"))
            base = _fork_baseline()
            t0 = time.perf_counter()
            stats = stage.prepare(rows, ops)
            wall = time.perf_counter() - t0
        removed = sum(stats["removed"].values())
        baseline = ProcessOps(tmp)
        baseline._run_all([(_datasketch_index, (corpus,))])
        print(f"{factor}x: {len(corpus):6d} docs, {sum(map(len, corpus)) / 1e6:6.1f} M chars, {len(rows)} input parts,"
              f" shuffle partitions {stats['partitions']}, removed {removed}; worker peak RSS above a forked"
              f" idle worker ({base / 2**20:.0f} MiB): max {(max(ops.peaks) - base) / 2**20:.0f} MiB,"
              f" median {(np.median(ops.peaks) - base) / 2**20:.0f} MiB (max in step"
              f" '{max(ops.by_step, key=ops.by_step.get)}'); {wall:.0f} s;"
              f" datasketch MinHashLSH in one process: {(baseline.peaks[0] - base) / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--throughput-docs", type=int, default=800)
    parser.add_argument("--sample", type=int, default=1500)
    parser.add_argument("--memory-docs", type=int, default=600)
    parser.add_argument("--factors", default="1,2,4")
    parser.add_argument("--budget-mb", type=float, default=16)
    parser.add_argument("--per-part", type=int, default=100, help="documents per input partition (0: all in one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma list of sections to skip: throughput,quality,memory")
    args = parser.parse_args()
    print_machine()
    docs = load_laws()
    print(f"zh-laws-lawrefbook: {len(docs)} docs, {sum(map(len, docs)):,} chars")
    skip = set(args.skip.split(","))
    if "throughput" not in skip:
        throughput(docs[: args.throughput_docs])
    if "quality" not in skip:
        quality(docs, args.sample, args.seed, enriched=False)
        quality(docs, args.sample, args.seed, enriched=True)
    if "memory" not in skip:
        memory(docs[: args.memory_docs], [int(f) for f in args.factors.split(",")], args.per_part, args.budget_mb)


if __name__ == "__main__":
    main()
