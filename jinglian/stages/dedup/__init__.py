"""Deduplication: exact, MinHash-LSH near-duplicates and boilerplate lines, at any corpus size.

Job file: ``dedup: {}`` removes exact duplicates (normalised text, see
:mod:`.text`) and near-duplicates at Jaccard >= 0.8 over 5-token shingles;
``lines: true`` also strips lines found in more than ``line_max_docs``
documents (CCNet). Every removed document is rejected with ``reason``
``dedup:exact`` / ``dedup:near`` (``reason_value`` = verified Jaccard, 1.0 for
exact) and ``duplicate_of`` = the id of the kept document it resembles.

Plan (``prepare``; every step is a ``DataOps.map`` over partitions or a
``DataOps.shuffle`` by a key, every intermediate is Parquet on disk):

1. ``features`` (map): per document ``_row``, id, keep priority, exact key,
   MinHash signature (vectorised, equal to datasketch's) and the sorted set of
   its 32-bit shingle hashes (for exact Jaccard later).
2. exact (shuffle by exact key): per key, the first document in keep order
   stays; the others get ``dedup:exact``. Survivors go on.
3. bands (map + shuffle by band key): documents sharing a band key become
   candidate pairs (all pairs in small buckets, star + chain in big ones).
4. verify (two shuffles by document: join the pair with one side's shingle set,
   then the other's): exact Jaccard >= threshold, or the pair is dropped. No
   false positive survives this step.
5. components (:mod:`.components`): large-star/small-star rounds of shuffles
   over the verified edges, O(log^2 n) rounds; no process holds more than one
   bucket of edges.
6. clusters (join labels onto documents and edges, shuffle by label): greedy
   per component, documents in keep order; one is removed only if it resembles
   an already *kept* one at the threshold (verified edge, else exact Jaccard
   against the kept ones), otherwise it is kept itself. So in a chain A~B~C
   with C !~ A, C stays, and ``duplicate_of`` always names a kept document
   that the removed one resembles, verified.
7. lines (optional; map + shuffle by line hash): lines in more than K
   documents; each document's list of lines to drop.
8. verdicts (shuffle by chunks of 8192 consecutive ``_row``): sorted by
   ``_row``, split into ``work_dir/verdicts/part-<part>-<bucket>.parquet``
   (only rows with a verdict or lines to drop; row groups of 8192 rows);
   ``process`` reads, for each batch, only the row groups whose ``_row``
   range meets the batch's, and looks its rows up by ``_row``.

Memory per worker follows ``memory_budget_mb`` (plus a fixed overhead),
whatever the number or the size of the input partitions:

- every shuffle gets ``ceil(bytes_in * expansion / memory_budget_mb)`` buckets
  (expansion = working copies a phase makes, 2-5x), so one bucket, not the
  corpus, bounds a gather;
- every map step and every shuffle's scatter streams its partition in record
  batches of ``memory_budget_mb / 8`` uncompressed bytes (``DataOps`` with
  ``batch_bytes``: ``ParquetFile.iter_batches``, outputs appended with a
  ``ParquetWriter``, one row group per batch; a scatter flushes its bucket
  pieces whenever a batch's worth is buffered), so the size of the largest
  input partition does not set the peak. The map functions work row by row, so
  the batching changes no result. ``features`` is the heaviest step: its
  batch's texts as Python strings, shingle hashes as Python bytes then as
  Arrow, plus the numpy temporaries of 512 K characters shingled at once
  (a fixed amount; BENCHMARKS.md, Deduplication, has the peaks measured);
- ``process`` holds one or two verdict row groups and its batch.

Cost model, bytes per document (``P`` = num_perm, ``b`` bands, ``S`` = its
distinct shingles ~ its characters for Chinese, ``c`` its candidate pairs):

==============  =========================================  ==================
phase           on disk / shuffled                          default (P=128, b=17)
==============  =========================================  ==================
features        ~40 + id + 4P (signature) + 4S (shingles)   ~560 + 4S
bands           16 b                                         272
candidates      16 c                                         (c small)
verify          c * (16 + 4S) (pair carries one side)        ~4S per pair
components      ~48 per verified edge per round              -
clusters        documents in a component: 560 + 4S           only duplicates
verdicts        ~60 per removed document, 8 per dropped line  -
==============  =========================================  ==================

In memory, per worker: a map step or scatter up to ~8x its batch
(``memory_budget_mb`` / 8 of input), a gather ~expansion x its bucket,
``process`` ~2 x 8192 verdict rows; none of these grows with the partition or
the corpus. The price of small batches is per-file overhead (more files and
row groups per partition); at the default 1024 MiB a partition under 128 MiB
is one batch.

Compute: features is ~O(characters) numpy passes plus ``P`` multiply/add/min
per shingle; verification is one sorted intersection per candidate pair.
"""

from jinglian.stages.dedup.stage import DedupParams, DedupStage

__all__ = ["DedupParams", "DedupStage"]
