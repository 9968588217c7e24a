"""The packed, blended, DP-sharded, resumable sample loader over token shards."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from jinglian.pretrain.data import PackedDataset, RankSampler, blend_indices, load_blend
from jinglian.stages.token_shards import indexed, manifest


def counting_shard(path, lengths, first=0) -> tuple[str, int]:
    """A shard whose tokens are first, first+1, ...: every token names its own position."""
    docs, t = [], first
    for n in lengths:
        docs.append(list(range(t, t + n)))
        t += n
    indexed.write_shard(str(path), docs, np.int32)
    return str(path), t - first


def doc_lengths(seed, n, total=None):
    lengths = np.random.default_rng(seed).integers(1, 90, n)
    if total is not None:  # make the epoch exactly `total` tokens
        lengths[-1] += total - lengths.sum()
        assert lengths[-1] > 0
    return lengths.tolist()


def all_samples(ds, dp_size, mbs, drop_last=False):
    per_rank = []
    for rank in range(dp_size):
        sampler = RankSampler(len(ds), rank, dp_size, mbs, drop_last=drop_last)
        per_rank.append([i for batch in sampler for i in batch])
    return per_rank


def test_one_epoch_covers_every_token_exactly_once_across_dp_ranks(tmp_path):
    seq_len = 32
    prefix, total = counting_shard(tmp_path / "a", doc_lengths(0, 330, total=32 * 500 + 1))
    ds = PackedDataset([prefix], seq_len=seq_len, seed=3)
    assert len(ds) == 500
    per_rank = all_samples(ds, dp_size=3, mbs=4)
    indices = sorted(i for r in per_rank for i in r)
    assert indices == list(range(len(ds)))  # every sample to exactly one rank
    assert not set(per_rank[0]) & set(per_rank[1])
    inputs = np.concatenate([ds[i][:-1] for i in indices])
    assert len(inputs) == len(np.unique(inputs)) == total - 1  # inputs: every token once...
    labels = np.concatenate([ds[i][1:] for i in indices])
    assert len(labels) == len(np.unique(labels)) == total - 1
    every = set(range(total))
    (not_input,), (not_label,) = every - set(inputs.tolist()), every - set(labels.tolist())
    assert not_input != not_label  # ...but the stream's last (only a label) and first (only an input)
    assert ds[0].dtype == np.int64 and ds[0].shape == (seq_len + 1,)
    # Packed across document boundaries (documents in a shuffled order), no padding.
    spanning = sum(int((np.diff(ds[i]) != 1).any()) for i in range(len(ds)))
    assert spanning > len(ds) // 2


def test_shuffled_and_deterministic_and_cached(tmp_path):
    prefix, _ = counting_shard(tmp_path / "a", doc_lengths(1, 300))
    ds = PackedDataset([prefix], seq_len=16, seed=7)
    cached = sorted(f for f in os.listdir(tmp_path) if f.endswith(".npy"))
    assert len(cached) == 3 and all(f.startswith("a.") for f in cached)
    stamps = {f: os.stat(tmp_path / f).st_mtime_ns for f in cached}
    again = PackedDataset([prefix], seq_len=16, seed=7)
    assert all(np.array_equal(ds[i], again[i]) for i in range(len(ds)))
    assert {f: os.stat(tmp_path / f).st_mtime_ns for f in cached} == stamps  # loaded, not rebuilt
    other = PackedDataset([prefix], seq_len=16, seed=8)
    assert not all(np.array_equal(ds[i], other[i]) for i in range(10))
    # Samples are shuffled: consecutive sample ids are not consecutive in the token stream.
    assert sum(int(ds[i + 1][0] == ds[i][-1]) for i in range(len(ds) - 1)) < len(ds) // 4
    clone = pickle.loads(pickle.dumps(ds))
    assert np.array_equal(clone[5], ds[5])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_resume_from_consumed_samples_equals_uninterrupted(tmp_path):
    prefix, _ = counting_shard(tmp_path / "a", doc_lengths(2, 500))
    ds = PackedDataset([prefix], seq_len=24, seed=1, num_epochs=2)
    dp, mbs = 2, 3
    for rank in range(dp):
        full = [ds[i].tolist() for batch in RankSampler(len(ds), rank, dp, mbs) for i in batch]
        stopped_after = 7  # global batches trained before the "crash"
        first = RankSampler(len(ds), rank, dp, mbs)
        head = [ds[i].tolist() for _, batch in zip(range(stopped_after), first) for i in batch]
        fresh = PackedDataset([prefix], seq_len=24, seed=1, num_epochs=2)  # a new process: from the cache
        resumed = RankSampler(len(fresh), rank, dp, mbs, consumed_samples=stopped_after * dp * mbs)
        tail = [fresh[i].tolist() for batch in resumed for i in batch]
        assert head + tail == full


def test_multiple_epochs_see_every_token_once_per_epoch_in_new_orders(tmp_path):
    seq_len = 20
    prefix, total = counting_shard(tmp_path / "a", doc_lengths(3, 200))
    one = PackedDataset([prefix], seq_len=seq_len)
    three = PackedDataset([prefix], seq_len=seq_len, num_epochs=3)
    assert len(one) == (total - 1) // seq_len and len(three) == (3 * total - 1) // seq_len
    counts = np.bincount(np.concatenate([three[i][:-1] for i in range(len(three))]), minlength=total)
    assert counts.min() >= 2 and counts.max() == 3  # two full epochs plus most of the third
    src = three.sources[0]
    n = len(src.lengths)
    first, second = src.doc_idx[:n], src.doc_idx[n : 2 * n]
    assert sorted(first) == sorted(second) == list(range(n)) and not np.array_equal(first, second)
    in_epoch1 = -(-total // seq_len)  # samples starting in the first epoch are served first
    assert sorted(src.shuffle_idx[:in_epoch1]) == list(range(in_epoch1))


def test_blend_proportions_within_one_percent(tmp_path):
    weights = [0.5, 0.3, 0.2]
    prefixes = []
    for k in range(3):  # source k's tokens live in [k * 10**6, (k + 1) * 10**6)
        prefix, _ = counting_shard(tmp_path / f"s{k}", doc_lengths(10 + k, 300 + 100 * k), first=k * 10**6)
        prefixes.append(prefix)
    ds = PackedDataset(prefixes, weights=[5, 3, 2], seq_len=16, num_samples=3000)
    source = np.array([int(ds[i][0]) // 10**6 for i in range(len(ds))])
    share = np.bincount(source, minlength=3) / len(ds)
    assert np.allclose(share, weights, atol=0.01)
    for n in (10, 100, 1000):  # every prefix of the stream stays within one sample per source
        assert np.all(np.abs(np.bincount(source[:n], minlength=3) - np.array(weights) * n) <= 1)
    # Sources smaller than their share are repeated (more epochs), never overrun.
    assert all(len(set(int(ds[i][0]) for i in np.flatnonzero(source == k))) > 0 for k in range(3))
    which, local = blend_indices(weights, 10)
    assert which.tolist() == [0, 1, 2, 0, 0, 1, 0, 2, 1, 0] and local.tolist()[:4] == [0, 0, 0, 1]


def test_blend_one_epoch_of_the_limiting_source(tmp_path):
    a, ta = counting_shard(tmp_path / "a", doc_lengths(4, 100))
    b, tb = counting_shard(tmp_path / "b", doc_lengths(5, 400), first=10**6)
    ds = PackedDataset([a, b], weights=[1, 1], seq_len=16)
    assert len(ds) == int(min((ta - 1) // 16, (tb - 1) // 16) / 0.5)


def test_load_blend_from_manifest_and_blend_file(tmp_path):
    tokens = tmp_path / "tokens"
    shards = []
    for src, split, n in [("zh", "train", 100), ("zh", "train", 300), ("en", "train", 200), ("en", "valid", 50)]:
        rel = f"{src}/{split}/part-{len(shards):05d}"
        prefix, ntok = counting_shard(tokens / rel, doc_lengths(len(shards), n))
        shards.append({"prefix": rel, "source": src, "split": split, "docs": n, "tokens": ntok, "dtype": "int32",
                       "checksums": indexed.shard_checksums(prefix)})
    m = manifest.build_manifest(shards, {"sha256": "x"}, {"zh": 3.0, "en": 1.0}, 0.1, 1000)
    manifest.write_manifest(str(tokens), m)
    prefixes, weights = load_blend(str(tokens))
    assert [os.path.relpath(p, tokens) for p in prefixes] == ["en/train/part-00002", "zh/train/part-00000", "zh/train/part-00001"]
    zh_tokens = shards[0]["tokens"] + shards[1]["tokens"]
    assert weights == pytest.approx([0.25, 0.75 * shards[0]["tokens"] / zh_tokens, 0.75 * shards[1]["tokens"] / zh_tokens])
    assert load_blend(str(tokens / "blend.txt")) == (prefixes, pytest.approx(weights))
    assert load_blend(str(tokens / "manifest.json"), split="valid") == ([str(tokens / "en/valid/part-00003")], [1.0])
    ds = PackedDataset(prefixes, weights, seq_len=8, num_samples=200)
    assert len(ds) == 200 and ds[199].shape == (9,)


def test_sampler_drop_last_and_bad_config():
    assert [list(b) for b in RankSampler(10, 1, 2, 2)] == [[2, 3], [6, 7]]
    assert [list(b) for b in RankSampler(10, 1, 2, 2, drop_last=False)] == [[2, 3], [6, 7]]
    assert [list(b) for b in RankSampler(11, 0, 2, 2, drop_last=False)] == [[0, 1], [4, 5], [8, 9]]
    assert [list(b) for b in RankSampler(11, 1, 2, 2, drop_last=False)] == [[2, 3], [6, 7], [10]]
    assert len(RankSampler(100, 0, 4, 2, consumed_samples=40)) == 7
    with pytest.raises(ValueError):
        RankSampler(10, 2, 2, 1)
