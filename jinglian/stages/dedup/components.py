"""Connected components of an edge list that never sits in one process.

Large-star / small-star (Kiveris et al., "Connected Components in MapReduce
and Beyond", SoCC 2014): each round is two shuffles of the edge list by node;
at every node only its own neighbourhood is in memory.

- large-star: node ``u`` with neighbourhood ``N(u)`` links every *larger*
  neighbour to ``m = min(N(u) + {u})``;
- small-star: node ``u`` links all its *smaller* neighbours and itself to the
  smallest of them.

Both keep the components and shrink their diameter; when neither changes
anything every component is a star around its smallest node, which becomes
the label of every node in it. Rounds grow with log^2 of the component size,
not with its diameter as plain min-label propagation does (a chain of ``n``
near-duplicate versions needs ``n`` rounds of propagation).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jinglian.core.dataops import DataOps, TableSet

MAX_ROUNDS = 200
_EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64()), ("changed", pa.int64())])


def _grouped(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Unique (u, v) pairs without self loops, sorted by u then v."""
    if len(table) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u = table["u"].to_numpy()
    v = table["v"].to_numpy()
    keep = u != v
    pairs = np.unique(np.stack([u[keep], v[keep]], axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _per_node_min(u: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row, the minimum of ``values`` over the rows with the same ``u`` (rows sorted by u)."""
    starts = np.flatnonzero(np.concatenate([[True], u[1:] != u[:-1]]))
    mins = np.minimum.reduceat(values, starts)
    return np.repeat(mins, np.diff(np.append(starts, len(u))))


def _both_directions(x: np.ndarray, y: np.ndarray, changed: int) -> pa.Table:
    u = np.concatenate([x, y])
    v = np.concatenate([y, x])
    flag = np.zeros(len(u), np.int64)
    if len(flag):
        flag[0] = changed  # the round's change count travels in the data
    return pa.table({"u": u, "v": v, "changed": flag}, schema=_EDGE_SCHEMA)


def large_star(table: pa.Table, _bucket: int) -> pa.Table:
    u, v = _grouped(table)
    if len(u) == 0:
        return _EDGE_SCHEMA.empty_table()
    m = np.minimum(_per_node_min(u, v), u)
    larger = v > u
    changed = int(np.count_nonzero(larger & (m < u)))
    return _both_directions(v[larger], m[larger], changed)


def small_star(table: pa.Table, _bucket: int) -> pa.Table:
    u, v = _grouped(table)
    smaller = v < u
    u, v = u[smaller], v[smaller]
    if len(u) == 0:
        return _EDGE_SCHEMA.empty_table()
    m = _per_node_min(u, v)
    changed = int(np.count_nonzero(v != m))
    nodes = np.concatenate([v[v != m], np.unique(u)])
    targets = np.concatenate([m[v != m], m[np.concatenate([[True], u[1:] != u[:-1]])]])
    return _both_directions(nodes, targets, changed)


def star_labels(table: pa.Table, _bucket: int) -> pa.Table:
    u, v = _grouped(table)
    if len(u) == 0:
        return pa.table({"_row": pa.array([], pa.int64()), "label": pa.array([], pa.int64())})
    first = np.concatenate([[True], u[1:] != u[:-1]])
    label = np.minimum(_per_node_min(u, v), u)
    return pa.table({"_row": u[first], "label": label[first]})


def symmetric(table: pa.Table, _index: int) -> pa.Table:
    """Edges ``(a, b)`` -> rows ``(u, v)`` in both directions."""
    return _both_directions(table["a"].to_numpy(), table["b"].to_numpy(), 0)


def _changes(tables: TableSet) -> int:
    return sum(int(pc.sum(tables.read(i, ["changed"])["changed"]).as_py() or 0) for i in range(len(tables)))


def _discard(tables: TableSet) -> None:
    for path in tables.paths:
        os.remove(path)


def connected_components(ops: DataOps, edges: TableSet, num_partitions: int) -> tuple[TableSet, int]:
    """Label every node that has an edge with its component's smallest node.

    ``edges`` has int64 columns ``a`` and ``b``. Returns (``_row``, ``label``)
    partitions and the number of rounds it took.
    """
    current = ops.map(edges, symmetric, name="cc-symmetric")
    for rounds in range(1, MAX_ROUNDS + 1):
        changed = 0
        for step in (large_star, small_star):
            previous = current
            current = ops.shuffle(previous, "u", num_partitions, step, name=f"cc-{step.__name__}")
            _discard(previous)  # only the latest edge list stays on disk
            changed += _changes(current)
        if changed == 0:
            return ops.shuffle(current, "u", num_partitions, star_labels, name="cc-labels"), rounds
    raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
