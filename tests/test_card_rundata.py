"""The card's distributions over a run's Parquet outputs: exact counts when partitions carry different optional columns."""

from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from jinglian.cards.rundata import load_run


def _write(path, **columns):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table(columns), path)


def test_counts_over_partitions_with_different_columns(tmp_path):
    run = str(tmp_path)
    with open(os.path.join(run, "stats.json"), "w") as f:
        json.dump({"stages": [], "totals": {}}, f)
    _write(f"{run}/docs/part-00000.parquet", text=["你好", "hello world", "数据精炼"], lang=["zh", "en", None],
           quality_score=[0.9, float("nan"), 0.7])
    _write(f"{run}/docs/part-00001.parquet", text=["abc", "长一点的文本"])  # no lang, no quality column
    _write(f"{run}/rejected/part-00000.parquet", reason=["dedup:exact", "dedup:near", "filter:x", "dedup:exact"],
           source=["web", None, "web", "news"], duplicate_of=["a", "a", None, "b"],
           quality_score=[0.5, float("nan"), 0.1, None])
    _write(f"{run}/rejected/part-00001.parquet", reason=["filter:x", "langid:low"])  # no source, duplicate_of, quality

    data = load_run(run)

    assert data.sampled_docs == 5
    assert {k: v.tolist() for k, v in data.lengths.items()} == {"zh": [2], "en": [11], "unknown": [4, 3, 6]}
    assert data.quality["kept"].tolist() == [0.9, 0.7]
    assert data.rejected_by_source == {"dedup:exact": Counter({"web": 1, "news": 1}), "dedup:near": Counter({"": 1}),
                                       "filter:x": Counter({"web": 1, "": 1}), "langid:low": Counter({"": 1})}
    assert data.cluster_sizes == Counter({3: 1, 2: 1})  # a kept + 2 duplicates, b kept + 1
    assert data.duplicate_reasons == {"dedup:exact", "dedup:near"}
    assert {k: v.tolist() for k, v in data.quality.items() if k != "kept"} == {"rejected by dedup": [0.5],
                                                                                "rejected by filter": [0.1]}
    assert load_run(run, max_docs=4).sampled_docs == 4
