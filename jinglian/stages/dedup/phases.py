"""The per-partition and per-bucket functions of the dedup plan (module level: Ray pickles them).

Each takes ``(table, index)`` and returns a table, as :class:`DataOps` wants.
The map functions work row by row: the stage streams every partition through
them in record batches, and any split gives the same rows. Tables that meet in
one shuffle (a join) share the key column and are told apart by which columns
are non-null.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jinglian.core import documents as D
from jinglian.stages.dedup import minhash, text
from jinglian.stages.dedup.params import DedupParams

CHUNK_CHARS = 1 << 19  # characters shingled at once: bounds the temporaries of the vectorised path


def _priority(table: pa.Table, keep: str) -> np.ndarray:
    """Higher is kept first; ties go to the earlier row."""
    if keep == "first":
        return np.zeros(len(table))
    if keep == "longest":
        return pc.utf8_length(table[D.TEXT]).to_numpy(zero_copy_only=False).astype(np.float64)
    if "quality_score" not in table.column_names:
        raise ValueError("dedup keep='quality_score' needs a quality_score column (run the quality filter first)")
    score = pc.cast(table["quality_score"], pa.float64()).to_numpy(zero_copy_only=False)
    return np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)


def features(table: pa.Table, _index: int, cfg: DedupParams) -> pa.Table:
    """Active rows -> (_row, _part, id, prio, exact key, signature, sorted unique shingle hashes)."""
    table = D.active(table)
    texts = table[D.TEXT].to_pylist()
    cols = {
        D.ROW: table[D.ROW],
        D.PART: table[D.PART],
        D.ID: table[D.ID],
        "prio": pa.array(_priority(table, cfg.keep)),
    }
    if cfg.exact:
        cols["ekey"] = pa.array([text.exact_key(t or "") for t in texts], pa.int64())
    if cfg.minhash:
        sigs, shingle_sets = [], []
        a, b = minhash.permutations(cfg.num_perm, cfg.seed)
        for chunk in _chunks(texts):
            hashes, offsets = text.shingle_hash_batch(chunk, cfg.ngram)
            sigs.append(minhash.signatures(hashes, offsets, a, b))
            shingle_sets.extend(np.unique(hashes[offsets[i] : offsets[i + 1]]).tobytes() for i in range(len(chunk)))
        sig = np.concatenate(sigs) if sigs else np.zeros((0, cfg.num_perm), np.uint32)
        cols["sig"] = pa.array([row.tobytes() for row in sig], pa.binary())
        cols["sh"] = pa.array(shingle_sets, pa.binary())
    return pa.table(cols)


def _chunks(texts: list) -> list[list[str]]:
    out, cur, size = [], [], 0
    for t in texts:
        cur.append(t or "")
        size += len(t or "")
        if size >= CHUNK_CHARS:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def exact_groups(table: pa.Table, _bucket: int) -> pa.Table:
    """Docs of one bucket of exact keys -> the same docs with ``dup_row``/``dup_id`` on the removed ones."""
    n = len(table)
    dup_row = np.full(n, -1, np.int64)
    size = np.zeros(n, np.int64)
    if n:
        keys = table["ekey"].to_numpy()
        order = np.lexsort((table[D.ROW].to_numpy(), -table["prio"].to_numpy(), keys))
        k = keys[order]
        starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
        lengths = np.diff(np.append(starts, n))
        head = np.repeat(order[starts], lengths)
        rows = table[D.ROW].to_numpy()
        removed = order[order != head]
        dup_row[removed] = rows[head[order != head]]
        size[order[starts]] = lengths
    ids = table[D.ID].to_pylist()
    row_to_id = dict(zip(table[D.ROW].to_pylist(), ids))
    return table.append_column("dup_row", pa.array(dup_row)).append_column(
        "dup_id", pa.array([row_to_id[r] if r >= 0 else None for r in dup_row.tolist()], pa.string())
    ).append_column("cluster_size", pa.array(size))


def exact_survivors(table: pa.Table, _index: int) -> pa.Table:
    return table.filter(pc.equal(table["dup_row"], -1)).drop_columns(["dup_row", "dup_id", "cluster_size"])


def exact_verdicts(table: pa.Table, _index: int) -> pa.Table:
    removed = table.filter(pc.not_equal(table["dup_row"], -1))
    clusters = table.filter(pc.greater(table["cluster_size"], 1))
    return pa.concat_tables(
        [
            _verdicts(removed, "dedup:exact", pa.array(np.ones(len(removed))), removed["dup_id"]),
            _cluster_rows(clusters[D.ROW], clusters[D.PART], clusters["cluster_size"], "exact"),
        ],
        promote_options="permissive",
    )


VERDICT_SCHEMA = pa.schema(
    [
        (D.ROW, pa.int64()),
        (D.PART, pa.int64()),
        (D.REASON, pa.string()),
        (D.REASON_VALUE, pa.float64()),
        (D.DUPLICATE_OF, pa.string()),
        ("cluster", pa.string()),  # on a kept doc heading a cluster: "exact" / "near"
        ("cluster_size", pa.int64()),
    ]
)


def _verdicts(rows_table: pa.Table, reason: str, values, dup_ids) -> pa.Table:
    n = len(rows_table)
    return pa.table(
        {
            D.ROW: rows_table[D.ROW],
            D.PART: pc.cast(rows_table[D.PART], pa.int64()),
            D.REASON: pa.array([reason] * n, pa.string()),
            D.REASON_VALUE: pc.cast(values, pa.float64()),
            D.DUPLICATE_OF: dup_ids,
            "cluster": pa.nulls(n, pa.string()),
            "cluster_size": pa.nulls(n, pa.int64()),
        },
        schema=VERDICT_SCHEMA,
    )


def _cluster_rows(rows, parts, sizes, kind: str) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            D.ROW: pc.cast(rows, pa.int64()),
            D.PART: pc.cast(parts, pa.int64()),
            D.REASON: pa.nulls(n, pa.string()),
            D.REASON_VALUE: pa.nulls(n, pa.float64()),
            D.DUPLICATE_OF: pa.nulls(n, pa.string()),
            "cluster": pa.array([kind] * n, pa.string()),
            "cluster_size": pc.cast(sizes, pa.int64()),
        },
        schema=VERDICT_SCHEMA,
    )


def band_rows(table: pa.Table, _index: int, cfg: DedupParams) -> pa.Table:
    """One row per (document, band): the band key and the document. Empty documents have no bands."""
    if len(table) == 0:
        return pa.table({"bkey": pa.array([], pa.int64()), D.ROW: pa.array([], pa.int64())})
    sig = np.frombuffer(b"".join(table["sig"].to_pylist()), np.uint32).reshape(len(table), cfg.num_perm)
    nonempty = ~(sig == minhash.EMPTY).all(axis=1)
    keys = minhash.band_keys(sig[nonempty], cfg.bands, cfg.rows)
    rows = table[D.ROW].to_numpy()[nonempty]
    return pa.table({"bkey": (keys >> np.uint64(1)).astype(np.int64).ravel(), D.ROW: np.repeat(rows, cfg.bands)})


def band_edges(table: pa.Table, _bucket: int, clique_limit: int) -> pa.Table:
    """Documents sharing a band key -> candidate pairs (a < b).

    Up to ``clique_limit`` members a bucket yields all pairs; a larger one
    yields a star from its first member plus the chain of consecutive members,
    enough to connect it while the edge count stays linear.
    """
    if len(table) == 0:
        return pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    pairs = np.unique(np.stack([table["bkey"].to_numpy(), table[D.ROW].to_numpy()], axis=1), axis=0)
    keys, rows = pairs[:, 0], pairs[:, 1]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.append(starts[1:], len(keys))
    out_a, out_b = [], []
    for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
        members = rows[s:e]
        if len(members) <= clique_limit:
            i, j = np.triu_indices(len(members), 1)
            out_a.append(members[i])
            out_b.append(members[j])
        else:
            out_a += [np.full(len(members) - 1, members[0]), members[1:-1]]
            out_b += [members[1:], members[2:]]
    if not out_a:
        return pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    edges = np.unique(np.stack([np.concatenate(out_a), np.concatenate(out_b)], axis=1), axis=0)
    return pa.table({"a": edges[:, 0], "b": edges[:, 1]})


def edges_keyed(table: pa.Table, _index: int) -> pa.Table:
    """Candidate pairs keyed by their first document, for the join with the shingle sets."""
    return pa.table({D.ROW: table["a"], "other": table["b"]})


def slim_shingles(table: pa.Table, _index: int) -> pa.Table:
    return table.select([D.ROW, "sh"])


def _shingle_lookup(docs: pa.Table) -> tuple[pa.ChunkedArray, dict[int, int]]:
    """The shingle column and ``_row`` -> position: sets are converted one at a time, never all at once."""
    return docs["sh"], {row: i for i, row in enumerate(docs[D.ROW].to_pylist())}


def attach_first(table: pa.Table, _bucket: int) -> pa.Table:
    """Join: (a, b) edges + a's shingles -> rows keyed by b carrying a's shingles."""
    edges = table.filter(pc.is_valid(table["other"])).select([D.ROW, "other"])
    sh, at = _shingle_lookup(table.filter(pc.is_null(table["other"])).select([D.ROW, "sh"]))
    pairs = np.unique(np.stack([edges[D.ROW].to_numpy(), edges["other"].to_numpy()], axis=1), axis=0)
    return pa.table(
        {
            D.ROW: pa.array(pairs[:, 1], pa.int64()),
            "other": pa.array(pairs[:, 0], pa.int64()),
            "other_sh": pc.take(sh, pa.array([at[a] for a in pairs[:, 0].tolist()], pa.int64())),
        }
    )


def jaccard(x: bytes, y: bytes) -> float:
    a = np.frombuffer(x, np.uint32)
    b = np.frombuffer(y, np.uint32)
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def verify(table: pa.Table, _bucket: int, threshold: float) -> pa.Table:
    """Join: edges carrying a's shingles + b's shingles -> pairs whose exact Jaccard reaches the threshold."""
    is_edge = pc.is_valid(table["other"])
    edges = table.filter(is_edge).select([D.ROW, "other", "other_sh"])
    sh, at = _shingle_lookup(table.filter(pc.invert(is_edge)).select([D.ROW, "sh"]))
    other_sh = edges["other_sh"]
    a_list, b_list, j_list = [], [], []
    for k, (b, a) in enumerate(zip(edges[D.ROW].to_pylist(), edges["other"].to_pylist())):
        j = jaccard(other_sh[k].as_py(), sh[at[b]].as_py())
        if j >= threshold:
            a_list.append(a)
            b_list.append(b)
            j_list.append(j)
    return pa.table(
        {"a": pa.array(a_list, pa.int64()), "b": pa.array(b_list, pa.int64()), "j": pa.array(j_list, pa.float64())}
    )


def verified_keyed(table: pa.Table, _index: int) -> pa.Table:
    return pa.table({D.ROW: table["a"], "b": table["b"], "j": table["j"]})


def attach_label(table: pa.Table, _bucket: int) -> pa.Table:
    """Join on ``_row`` with the component labels; rows of nodes without a label (singletons) are dropped."""
    is_label = pc.is_valid(table["label"])
    labels = table.filter(is_label)
    rest = table.filter(pc.invert(is_label)).drop_columns(["label"])
    lookup = dict(zip(labels[D.ROW].to_pylist(), labels["label"].to_pylist()))
    label = pa.array([lookup.get(r) for r in rest[D.ROW].to_pylist()], pa.int64())
    rest = rest.append_column("label", label)
    return rest.filter(pc.is_valid(rest["label"]))


def greedy_clusters(table: pa.Table, _bucket: int, cfg: DedupParams) -> pa.Table:
    """Decide every component: walk its documents in keep order; a document is removed only if it
    resembles an already kept one at the threshold (a verified edge, or, for components up to
    ``recheck_limit`` documents, an exact Jaccard check against the kept ones), else it is kept."""
    is_edge = pc.is_valid(table["b"])
    edges = table.filter(is_edge)
    docs = table.filter(pc.invert(is_edge))
    sim: dict[tuple[int, int], float] = {}
    for a, b, j in zip(edges[D.ROW].to_pylist(), edges["b"].to_pylist(), edges["j"].to_pylist()):
        sim[(a, b)] = sim[(b, a)] = j
    labels = docs["label"].to_numpy()
    rows = docs[D.ROW].to_numpy()
    order = np.lexsort((rows, -docs["prio"].to_numpy(), labels))
    ids, parts, shs = docs[D.ID].to_pylist(), docs[D.PART].to_pylist(), docs["sh"].to_pylist()
    sigs = np.frombuffer(b"".join(docs["sig"].to_pylist()), np.uint32).reshape(len(docs), cfg.num_perm)
    starts = np.flatnonzero(np.concatenate([[True], labels[order][1:] != labels[order][:-1]])) if len(docs) else []
    ends = np.append(starts[1:], len(docs)) if len(docs) else []
    removed, clusters = [], []
    for s, e in zip(starts, ends):
        members = order[s:e]
        kept: list[int] = []
        dups: dict[int, int] = {}
        for i in members.tolist():
            best, best_j = -1, -1.0
            for k in kept:
                j = sim.get((int(rows[i]), int(rows[k])))
                if j is not None and j > best_j:
                    best, best_j = k, j
            if best < 0 and len(members) <= cfg.recheck_limit:
                best, best_j = _recheck(i, kept, sigs, shs, cfg.threshold)
            if best < 0:
                kept.append(i)
            else:
                removed.append((i, best, best_j))
                dups[best] = dups.get(best, 0) + 1
        clusters += [(k, n + 1) for k, n in dups.items()]
    rem = pa.table({D.ROW: pa.array([int(rows[i]) for i, _, _ in removed], pa.int64()),
                    D.PART: pa.array([parts[i] for i, _, _ in removed], pa.int64())})
    near = _verdicts(rem, "dedup:near", pa.array([j for _, _, j in removed], pa.float64()),
                     pa.array([ids[k] for _, k, _ in removed], pa.string()))
    heads = _cluster_rows(pa.array([int(rows[k]) for k, _ in clusters], pa.int64()),
                          pa.array([parts[k] for k, _ in clusters], pa.int64()),
                          pa.array([n for _, n in clusters], pa.int64()), "near")
    return pa.concat_tables([near, heads])


def _recheck(i: int, kept: list[int], sigs: np.ndarray, shs: list, threshold: float) -> tuple[int, float]:
    """Best kept document that ``i`` resembles at the threshold, by exact Jaccard
    (the signature estimate is only a prefilter)."""
    if not kept:
        return -1, -1.0
    estimate = (sigs[kept] == sigs[i]).mean(axis=1)
    best, best_j = -1, -1.0
    for k, est in zip(kept, estimate.tolist()):
        if est < threshold - 0.2:
            continue
        j = jaccard(shs[i], shs[k])
        if j >= threshold and j > best_j:
            best, best_j = k, j
    return best, best_j


def line_rows(table: pa.Table, _index: int) -> pa.Table:
    """Active rows -> one row per (distinct normalised line, document) with the line's length."""
    table = D.active(table)
    keys, rows, parts, chars = [], [], [], []
    for row, part, doc in zip(table[D.ROW].to_pylist(), table[D.PART].to_pylist(), table[D.TEXT].to_pylist()):
        seen: dict[int, int] = {}
        for line in (doc or "").split("\n"):
            key = text.line_key(line)
            if key is not None:
                seen[key] = seen.get(key, 0) + len(line)
        keys += seen.keys()
        chars += seen.values()
        rows += [row] * len(seen)
        parts += [part] * len(seen)
    return pa.table(
        {
            "lkey": pa.array(keys, pa.int64()),
            D.ROW: pa.array(rows, pa.int64()),
            D.PART: pa.array(parts, pa.int64()),
            "chars": pa.array(chars, pa.int64()),
        }
    )


def frequent_lines(table: pa.Table, _bucket: int, max_docs: int) -> pa.Table:
    """Lines found in more than ``max_docs`` documents -> (document, line) rows to drop."""
    if len(table) == 0:
        return table
    counts = pc.value_counts(table["lkey"])
    frequent = counts.field("values").filter(pc.greater(counts.field("counts"), max_docs))
    return table.filter(pc.is_in(table["lkey"], value_set=frequent))


ROW_CHUNK_BITS = 13  # the verdicts of 8192 consecutive rows of a partition go to one bucket


def with_row_chunk(table: pa.Table, _index: int) -> pa.Table:
    """Verdict rows -> the same with ``chunk``: their ``_row`` without its low bits (the final shuffle's key)."""
    return table.append_column("chunk", pc.shift_right(pc.cast(table[D.ROW], pa.int64()), ROW_CHUNK_BITS))


def assemble(table: pa.Table, _bucket: int) -> pa.Table:
    """Final bucket (chunks of consecutive rows): one row per document with its verdict and/or the lines it
    loses, sorted by ``_row``, so by partition and, inside one, in row order."""
    out_schema = pa.schema([*VERDICT_SCHEMA][:5] + [("drop_lines", pa.list_(pa.int64()))])
    if len(table) == 0 or D.REASON not in table.column_names and "lkey" not in table.column_names:
        return out_schema.empty_table()
    verdict_cols = [D.ROW, D.PART, D.REASON, D.REASON_VALUE, D.DUPLICATE_OF]
    if D.REASON in table.column_names:
        verdicts = table.filter(pc.is_valid(table[D.REASON])).select(verdict_cols)
    else:
        verdicts = out_schema.empty_table().select(verdict_cols)
    if "lkey" in table.column_names:
        drops = table.filter(pc.is_valid(table["lkey"])).select([D.ROW, D.PART, "lkey"])
        drops = drops.group_by([D.ROW, D.PART]).aggregate([("lkey", "list")]).select([D.ROW, D.PART, "lkey_list"])
        drops = drops.rename_columns([D.ROW, D.PART, "drop_lines"])
    else:
        drops = out_schema.empty_table().select([D.ROW, D.PART, "drop_lines"])
    # A full outer join by hand (Acero joins carry no list columns).
    at = pc.index_in(verdicts[D.ROW], value_set=drops[D.ROW])
    verdicts = verdicts.append_column("drop_lines", pc.take(drops["drop_lines"], at))
    lines_only = drops.filter(pc.invert(pc.is_in(drops[D.ROW], value_set=verdicts[D.ROW])))
    joined = pa.concat_tables([verdicts, lines_only], promote_options="permissive")
    return joined.select(out_schema.names).cast(out_schema).sort_by(D.ROW)
