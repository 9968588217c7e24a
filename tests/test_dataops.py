"""Whole-dataset operations: every row of a key lands in one bucket; Ray and local agree."""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

from jinglian.core.dataops import LocalOps, TableSet, bucket_of, write_atomic

from jinglian.pipeline.ray_ops import RayOps


def _count_keys(table: pa.Table, bucket: int, column: str) -> pa.Table:
    grouped = table.group_by(column).aggregate([("v", "sum"), ("v", "count")])
    return grouped.append_column("bucket", pa.array([bucket] * len(grouped), pa.int64())).sort_by(column)


def make_inputs(tmp_path, parts=4) -> TableSet:
    paths = []
    for p in range(parts):
        keys = [f"k{(p * 7 + i) % 11}" for i in range(50)]
        path = str(tmp_path / "in" / f"p{p}.parquet")
        write_atomic(pa.table({"key": keys, "n": [i % 5 for i in range(50)], "v": list(range(50))}), path)
        paths.append(path)
    return TableSet(paths)


def test_shuffle_gathers_each_key_in_exactly_one_bucket(tmp_path):
    inputs = make_inputs(tmp_path)
    out = LocalOps(str(tmp_path / "ops")).shuffle(inputs, "key", 3, functools.partial(_count_keys, column="key"))
    result = out.read_all()
    assert len(out) == 3
    assert sorted(result["key"].to_pylist()) == sorted(set(inputs.read_all()["key"].to_pylist()))  # no key split
    assert pc.sum(result["v_count"]).as_py() == 200
    by_int = LocalOps(str(tmp_path / "ops2")).shuffle(inputs, "n", 2, functools.partial(_count_keys, column="n")).read_all()
    assert sorted(by_int["n"].to_pylist()) == [0, 1, 2, 3, 4]


def test_bucket_is_stable_and_spreads():
    keys = pa.array([f"doc-{i}" for i in range(1000)])
    a, b = bucket_of(keys, 8), bucket_of(keys, 8)
    assert (a == b).all() and len(set(a.tolist())) == 8
    ints = bucket_of(pa.array(list(range(1000)), pa.int64()), 8)
    assert min((ints == k).sum() for k in range(8)) > 60


def test_map_and_shuffle_on_ray_match_local(tmp_path, ray_local):
    inputs = make_inputs(tmp_path)
    fn = functools.partial(_count_keys, column="key")
    local = LocalOps(str(tmp_path / "l")).shuffle(inputs, "key", 3, fn).read_all().sort_by("key")
    remote = RayOps(str(tmp_path / "r")).shuffle(inputs, "key", 3, fn).read_all().sort_by("key")
    assert local.equals(remote)
    mapped = RayOps(str(tmp_path / "m")).map(inputs, functools.partial(_count_keys, column="n"))
    assert len(mapped) == 4 and mapped.num_rows() == 20
