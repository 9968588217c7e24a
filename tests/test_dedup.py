"""Dedup stage: datasketch parity, planted duplicates, chains, distributed components, lines."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32

from jinglian.core import documents as D
from jinglian.core.dataops import LocalOps, TableSet, write_atomic
from jinglian.stages import stage_class
from jinglian.core.context import RunContext
from jinglian.pipeline.apply import StageCounts, apply_stage, take_statistics
from jinglian.stages.dedup import DedupParams, DedupStage
from jinglian.stages.dedup import minhash, text
from jinglian.stages.dedup.components import connected_components

HANZI = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"
WORDS = [f"w{i}" for i in range(3000)]


def zh_doc(rng: random.Random, n: int = 300) -> str:
    return "".join(rng.choice(HANZI) for _ in range(n))


def en_doc(rng: random.Random, n: int = 200) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def edit(rng: random.Random, doc: str, k: int, alphabet) -> str:
    chars = list(doc)
    for _ in range(k):
        chars[rng.randrange(len(chars))] = rng.choice(alphabet)
    return "".join(chars)


def exact_jaccard(x: str, y: str, n: int = 5) -> float:
    a, b = set(text.shingles(x, n)), set(text.shingles(y, n))
    return len(a & b) / len(a | b)


def write_parts(tmp_path, texts: list[str], per_part: int = 4, extra: dict | None = None) -> TableSet:
    paths = []
    for part, start in enumerate(range(0, len(texts), per_part)):
        chunk = texts[start : start + per_part]
        cols = {
            D.ID: [f"d{start + i}" for i in range(len(chunk))],
            D.TEXT: chunk,
            D.PART: pa.array([part] * len(chunk), pa.int32()),
            D.ROW: pa.array([D.row_key(part, i) for i in range(len(chunk))], pa.int64()),
        }
        for name, values in (extra or {}).items():
            cols[name] = values[start : start + per_part]
        path = str(tmp_path / "in" / f"part-{part:05d}.parquet")
        write_atomic(D.with_verdict_columns(pa.table(cols)), path)
        paths.append(path)
    return TableSet(paths)


def run_dedup(tmp_path, rows: TableSet, ops=None, name: str = "dedup", **params) -> tuple[dict, dict, DedupStage]:
    """prepare + process every partition; returns ({id: (reason, value, duplicate_of)}, stats, stage)."""
    work = tmp_path / name
    stage = DedupStage(DedupParams(**params), RunContext(output_dir=str(tmp_path), work_dir=str(work)))
    stats = stage.prepare(rows, ops or LocalOps(str(work / "ops")))
    fresh = DedupStage(DedupParams(**params), RunContext(output_dir=str(tmp_path), work_dir=str(work)))
    verdicts, texts = {}, {}
    for path in rows.paths:
        out = apply_stage(fresh, pq.read_table(path), StageCounts())
        for r in out.to_pylist():
            verdicts[r[D.ID]] = (r[D.REASON], r[D.REASON_VALUE], r[D.DUPLICATE_OF])
            texts[r[D.ID]] = r[D.TEXT]
    stats["texts"] = texts
    stats["summary"] = take_statistics(fresh)
    return verdicts, stats, fresh


# -- signatures -------------------------------------------------------------------------------


def test_signatures_equal_datasketch_with_its_default_hash():
    rng = random.Random(0)
    docs = [[f"{rng.randrange(10**6)}".encode() for _ in range(rng.randrange(0, 400))] for _ in range(30)]
    hashes = np.array([sha1_hash32(s) for d in docs for s in d], np.uint32)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    a, b = minhash.permutations(64, 3)
    sigs = minhash.signatures(hashes, offsets, a, b)
    for doc, sig in zip(docs, sigs):
        m = MinHash(num_perm=64, seed=3)
        m.update_batch(doc)
        assert np.array_equal(m.hashvalues, sig)


def test_vectorised_shingle_hashes_give_datasketch_signatures():
    rng = random.Random(1)
    docs = [zh_doc(rng, rng.randrange(1, 200)) for _ in range(10)]
    docs += [en_doc(rng, rng.randrange(1, 80)) for _ in range(10)]
    docs += ["", "！？", "单", "ＡＢＣ abc １２３ Straße ﬁne ㈱", "Hello, 世界! mixed 中英文 text 2024年"]
    for ngram in (1, 3, 5):
        hashes, offsets = text.shingle_hash_batch(docs, ngram)
        a, b = minhash.permutations(128, 7)
        sigs = minhash.signatures(hashes, offsets, a, b)
        for doc, sig in zip(docs, sigs):
            m = MinHash(num_perm=128, seed=7, hashfunc=text.shingle_hash)
            for shingle in text.shingles(doc, ngram):
                m.update(shingle)
            assert np.array_equal(m.hashvalues, sig), doc


def test_tokens_are_cjk_characters_and_latin_runs():
    assert text.tokens("Ｈｅｌｌｏ, World!你好 abc123_def") == ["hello", "world", "你", "好", "abc123", "def"]
    assert text.shingles("我爱北京", 2) == [("我", "爱"), ("爱", "北"), ("北", "京")]
    assert text.shingles("短", 5) == [("短",)]
    assert text.exact_key("Ｈｅｌｌｏ，  WORLD！") == text.exact_key("hello, world")
    assert text.exact_key("hello world") != text.exact_key("hello there world")


@pytest.mark.parametrize("threshold,num_perm,fp,fn", [(0.8, 128, 0.5, 0.5), (0.5, 128, 0.5, 0.5), (0.9, 256, 0.3, 0.7), (0.7, 64, 0.1, 0.9)])
def test_bands_optimised_like_datasketch(threshold, num_perm, fp, fn):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(fp, fn))
    assert minhash.optimal_bands(threshold, num_perm, fp, fn) == (lsh.b, lsh.r)


# -- the stage ---------------------------------------------------------------------------------


def test_planted_duplicates_found_and_unique_docs_kept(tmp_path):
    rng = random.Random(2)
    zh = [zh_doc(rng) for _ in range(12)]
    en = [en_doc(rng) for _ in range(8)]
    texts = zh + en
    planted = {
        len(texts): ("exact", 0),
        len(texts) + 1: ("exact", 12),
        len(texts) + 2: ("near", 1),
        len(texts) + 3: ("near", 2),
        len(texts) + 4: ("near", 13),
        len(texts) + 5: ("near", 14),
    }
    texts += [
        "  " + zh[0] + "。",  # spacing and punctuation only
        en[0].upper().replace(" ", "  ,"),  # case, spacing, punctuation only
        edit(rng, zh[1], 4, HANZI),
        edit(rng, zh[2], 2, HANZI)[:-5],
        en[1].replace(en[1].split()[10], "changed", 1),
        en[2] + " plus a short tail",
    ]
    verdicts, stats, _ = run_dedup(tmp_path, write_parts(tmp_path, texts))
    for i, (kind, orig) in planted.items():
        reason, value, dup = verdicts[f"d{i}"]
        assert reason == f"dedup:{kind}" and dup == f"d{orig}"
        if kind == "near":
            assert value == pytest.approx(exact_jaccard(texts[i], texts[orig])) and value >= 0.8
    assert all(verdicts[f"d{i}"][0] is None for i in range(20))
    assert stats["removed"] == {"dedup:exact": 2, "dedup:near": 4}
    assert stats["clusters"] == {"exact": 2, "near": 4} and stats["cluster_sizes"] == {"2": 6}


def test_shared_boilerplate_does_not_merge_different_docs(tmp_path):
    rng = random.Random(3)
    header = "首页 | 新闻中心 | 关于我们 | 联系方式 版权所有 本站内容未经许可不得转载\n"
    footer = "\nCopyright 2024 Example Media Group. All rights reserved. 京ICP备12345678号"
    texts = [header + zh_doc(rng, 200) + footer for _ in range(10)]
    verdicts, stats, _ = run_dedup(tmp_path, write_parts(tmp_path, texts))
    assert all(v[0] is None for v in verdicts.values())
    assert stats["clusters"] == {"exact": 0, "near": 0}


def chain_texts() -> list[str]:
    """A ~ B and B ~ C at 0.8 over single-word shingles, but C is not ~ A."""
    a = " ".join(WORDS[0:100])
    b = " ".join(WORDS[5:105])  # J(a, b) = 95/105
    c = " ".join(WORDS[12:112])  # J(b, c) = 93/107, J(a, c) = 88/112 < 0.8
    return [a, b, c]


def test_chains_are_not_over_removed(tmp_path):
    texts = chain_texts() + [en_doc(random.Random(4)) for _ in range(3)]
    verdicts, _, _ = run_dedup(tmp_path, write_parts(tmp_path, texts, per_part=2), ngram=1)
    assert verdicts["d1"] == ("dedup:near", pytest.approx(95 / 105), "d0")
    assert verdicts["d0"][0] is None and verdicts["d2"][0] is None  # plain components would remove C as dup of A


def test_removed_docs_resemble_the_kept_doc_they_name(tmp_path):
    rng = random.Random(5)
    base = zh_doc(rng, 400)
    texts, current = [], base
    for _ in range(12):  # a drifting family: every version a few edits from the previous one
        current = edit(rng, current, 6, HANZI)
        texts.append(current)
    texts += [zh_doc(rng) for _ in range(4)]
    verdicts, _, _ = run_dedup(tmp_path, write_parts(tmp_path, texts, per_part=3))
    by_id = {f"d{i}": t for i, t in enumerate(texts)}
    removed = {k: v for k, v in verdicts.items() if v[0]}
    assert removed
    for doc_id, (_, value, dup) in removed.items():
        assert verdicts[dup][0] is None
        assert exact_jaccard(by_id[doc_id], by_id[dup]) == pytest.approx(value) and value >= 0.8
    kept = [k for k, v in verdicts.items() if v[0] is None]
    for i, x in enumerate(kept):  # greedy leaves no two kept documents at the threshold
        for y in kept[i + 1 :]:
            assert exact_jaccard(by_id[x], by_id[y]) < 0.8


def test_keep_rules(tmp_path):
    rng = random.Random(6)
    base = zh_doc(rng, 300)
    texts = [base, base + "多", base + "多一点"]
    rows = write_parts(tmp_path, texts, extra={"quality_score": [0.1, 0.9, 0.5]})
    first, _, _ = run_dedup(tmp_path, rows, name="first")
    longest, _, _ = run_dedup(tmp_path, rows, name="longest", keep="longest")
    quality, _, _ = run_dedup(tmp_path, rows, name="quality", keep="quality_score")
    assert [k for k, v in first.items() if v[0] is None] == ["d0"]
    assert [k for k, v in longest.items() if v[0] is None] == ["d2"]
    assert [k for k, v in quality.items() if v[0] is None] == ["d1"]
    assert quality["d0"][2] == "d1" and quality["d2"][2] == "d1"


def test_boilerplate_lines_removed(tmp_path):
    rng = random.Random(7)
    nav, footer = "首页 | 新闻 | 体育 | 财经", "版权所有 © 2024 示例网"
    texts = [f"{nav}\n{zh_doc(rng, 80)}\n{footer}" for _ in range(6)] + [zh_doc(rng, 80), nav]
    verdicts, stats, _ = run_dedup(tmp_path, write_parts(tmp_path, texts), exact=False, minhash=False, lines=True,
                                   line_max_docs=3)
    assert stats["frequent_lines"] == 2
    out = stats["texts"]
    assert all(nav not in out[f"d{i}"] and "版权所有" not in out[f"d{i}"] for i in range(6))
    assert out["d6"] == texts[6]
    assert verdicts["d7"][0] == "dedup:lines"  # nothing left of it
    assert stats["summary"] == {"lines_removed": 13, "line_chars_removed": 6 * (len(nav) + len(footer)) + len(nav)}


def test_defaults_and_registration():
    p = DedupParams()
    assert (p.exact, p.minhash, p.lines, p.threshold, p.ngram) == (True, True, False, 0.8, 5)
    assert stage_class("dedup") is DedupStage
    with pytest.raises(ValueError):
        DedupStage(DedupParams(bands=4))


# -- distributed connected components ---------------------------------------------------------


def union_find_labels(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    nodes = {x for a, b in edges if a != b for x in (a, b)}
    return {x: find(x) for x in nodes}


def test_distributed_components_equal_union_find(tmp_path):
    rng = random.Random(8)
    edges = [(i, i + 1) for i in range(1000, 1064)]  # a long chain
    edges += [(rng.randrange(0, 400), rng.randrange(0, 400)) for _ in range(300)]
    edges += [(5000, 5000 + k) for k in range(1, 40)]  # a big star
    paths = []
    for k in range(4):
        chunk = edges[k::4]
        path = str(tmp_path / f"edges-{k}.parquet")
        write_atomic(pa.table({"a": pa.array([a for a, _ in chunk], pa.int64()),
                               "b": pa.array([b for _, b in chunk], pa.int64())}), path)
        paths.append(path)
    labels, rounds = connected_components(LocalOps(str(tmp_path / "ops")), TableSet(paths), num_partitions=7)
    got = labels.read_all()
    assert len(labels) == 7 and rounds < 20
    assert dict(zip(got["_row"].to_pylist(), got["label"].to_pylist())) == union_find_labels(edges)


def test_tiny_memory_budget_gives_the_same_verdicts(tmp_path):
    rng = random.Random(9)
    family = [zh_doc(rng, 200)]
    for _ in range(5):
        family.append(edit(rng, family[-1], 3, HANZI))
    texts = family + [zh_doc(rng, 200) for _ in range(6)] + [family[0], family[2]]
    rows = write_parts(tmp_path, texts, per_part=5)
    big, big_stats, _ = run_dedup(tmp_path, rows, name="big")
    tiny, tiny_stats, _ = run_dedup(tmp_path, rows, name="tiny", memory_budget_mb=0.01)
    assert big == tiny
    assert all(n == 1 for n in big_stats["partitions"].values())
    assert tiny_stats["partitions"]["exact"] >= 4 and tiny_stats["partitions"]["verify"] >= 6
    assert sum(1 for v in big.values() if v[0]) >= 4


def test_no_input_partitions(tmp_path):
    verdicts, stats, _ = run_dedup(tmp_path, TableSet([]))
    assert verdicts == {} and stats["removed"] == {}


# -- one big partition, read in record batches ------------------------------------------------


class SmallBatchDedup(DedupStage):
    """Every map and scatter reads its partition about 3 KB (a handful of documents) at a time."""

    batch_bytes = 3000


def test_many_small_batches_give_the_same_verdicts_as_one(tmp_path):
    rng = random.Random(11)
    nav, footer = "首页 | 新闻 | 体育 | 财经", "版权所有 © 2024 示例网"
    family = [zh_doc(rng, 300)]
    for _ in range(4):
        family.append(edit(rng, family[-1], 4, HANZI))
    texts = [f"{nav}\n{zh_doc(rng, 120)}\n{footer}" for _ in range(40)] + [en_doc(rng) for _ in range(20)]
    texts += family + [family[1], family[3] + "！", "", texts[7]]
    rng.shuffle(texts)
    rows = write_parts(tmp_path, texts, per_part=len(texts))  # one partition
    params = {"lines": True, "line_max_docs": 5}
    outcomes = {}
    for name, cls in (("one", DedupStage), ("many", SmallBatchDedup)):
        work = tmp_path / name
        stage = cls(DedupParams(**params), RunContext(output_dir=str(tmp_path), work_dir=str(work)))
        stats = stage.prepare(rows, LocalOps(str(work / "ops")))
        features = pq.ParquetFile(next((work / "ops").glob("*-features/part-00000.parquet")))
        table = pq.read_table(rows.paths[0])
        fresh = cls(DedupParams(**params), RunContext(output_dir=str(tmp_path), work_dir=str(work)))
        # process() too, in batches of 7 rows: each batch reads only the verdict row groups of its rows
        out = pa.concat_tables([apply_stage(fresh, table.slice(s, 7), StageCounts()) for s in range(0, len(table), 7)])
        verdicts = pa.concat_tables(pq.read_table(p) for p in sorted((work / "verdicts").glob("*.parquet")))
        outcomes[name] = (out.select([D.ID, D.TEXT, D.REASON, D.REASON_VALUE, D.DUPLICATE_OF]).to_pylist(),
                          verdicts.sort_by(D.ROW).to_pylist(), stats["removed"], take_statistics(fresh),
                          features.metadata.num_row_groups)
    (docs, verdicts, removed, summary, groups), many = outcomes["one"], outcomes["many"]
    assert many[:4] == (docs, verdicts, removed, summary)
    assert groups == 1 and many[4] >= 10  # the features step really ran batch by batch
    assert removed["dedup:exact"] >= 3 and removed["dedup:near"] >= 3 and summary["lines_removed"] >= 80
    assert not [d for d in docs if d[D.REASON] is None and nav in d[D.TEXT]]  # boilerplate gone from kept docs


def test_batch_may_end_with_empty_documents():
    docs = ["今天天气很好我们去公园", "one two three four five six", "", ""]
    hashes, offsets = text.shingle_hash_batch(docs, 5)
    assert offsets.tolist()[-3:] == [offsets[2], offsets[2], offsets[2]]  # no shingles for the empty ones
    for i, doc in enumerate(docs[:2]):
        alone, _ = text.shingle_hash_batch([doc], 5)
        assert hashes[offsets[i] : offsets[i + 1]].tolist() == alone.tolist()


def test_batched_shuffle_gathers_the_same_buckets(tmp_path):
    table = pa.table({"key": pa.array([i % 13 for i in range(500)], pa.int64()), "n": pa.array(range(500), pa.int64())})
    paths = []
    for k in range(2):
        paths.append(str(tmp_path / f"in-{k}.parquet"))
        write_atomic(table.slice(k * 250, 250), paths[-1])
    inputs = TableSet(paths)
    whole = LocalOps(str(tmp_path / "whole")).shuffle(inputs, "key", 4, _identity)
    batched = LocalOps(str(tmp_path / "batched")).shuffle(inputs, "key", 4, _identity, batch_bytes=200)
    assert [whole.read(b).to_pylist() for b in range(4)] == [batched.read(b).to_pylist() for b in range(4)]
    mapped = LocalOps(str(tmp_path / "map")).map(inputs, _identity, batch_bytes=200)
    assert pq.ParquetFile(mapped.paths[0]).metadata.num_row_groups >= 10
    assert mapped.read_all().to_pylist() == table.to_pylist()


def _identity(table: pa.Table, _index: int) -> pa.Table:
    return table
