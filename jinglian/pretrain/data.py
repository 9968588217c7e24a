"""Packed training samples over token shards, blended by weight, sharded across DP ranks.

Modelled on Megatron-LM's ``GPTDataset``/``BlendedDataset``. For each shard
(prefix) three indices are computed once and cached as ``.npy`` next to the
shard, keyed by a hash of the shard's ``.idx`` and the configuration:

- document index: the shard's documents, a fresh permutation per epoch, back to back;
- sample index: where sample ``i`` starts (position in the document index, offset in
  that document); sample ``i`` is the ``seq_len + 1`` tokens of that stream from token
  ``i * seq_len`` on, so consecutive samples share one token (the last label of one is
  the first input of the next) and no token is padding;
- shuffle index: a permutation of the samples within each epoch, so the first
  epoch's samples all come before the second's.

Blending serves, for each global sample, the source whose served share lags its
weight the most, so any prefix of the sample stream is within one sample per source
of the mixture. Tokens are read through ``numpy.memmap``; nothing is loaded whole.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from jinglian.core.atomic import atomic_path
from jinglian.core.filesystem import is_remote
from jinglian.pretrain import shard_cache
from jinglian.stages.token_shards import indexed, manifest

CACHE_VERSION = 1


def load_blend(path: str, split: str = "train", cache_dir: str | None = None,
               storage_options: dict | None = None, verify: bool = False) -> tuple[list[str], list[float]]:
    """(prefixes, weights) from a tokens directory, its ``manifest.json``, or a blend ``.txt``.

    A remote one (``s3://``, ``gs://``, ``http(s)://``) has its shards fetched and verified into
    ``cache_dir`` (default ``$JINGLIAN_CACHE/shards``) and gives their local prefixes; copies
    already there are trusted by their verification record, or all hashed again with ``verify``
    (:mod:`jinglian.pretrain.shard_cache`). ``storage_options``: settings such as an endpoint.
    """
    if is_remote(path):
        return shard_cache.remote_blend(path, split, cache_dir, storage_options, verify)
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            return manifest.parse_data_path(f.read(), os.path.dirname(os.path.abspath(path)))
    m, tokens_dir = manifest.load_manifest(path)
    prefixes, weights = manifest.blend(m, tokens_dir, split)
    if not prefixes:
        raise ValueError(f"{path}: no {split} tokens in the manifest")
    return prefixes, weights


def _digest(*parts) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=8).hexdigest()


def _cached(path: str, build) -> np.ndarray:
    """Load ``path`` (memory-mapped) or build and save it atomically; unwritable cache dirs only lose the cache."""
    if os.path.exists(path):
        return np.load(path, mmap_mode="r")
    arr = build()
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, arr)
    except OSError:
        pass
    return arr


class _Source:
    """Packed samples of one shard."""

    def __init__(self, prefix: str, seq_len: int, seed: int, num_samples: int, cache_dir: str | None):
        self.shard = indexed.Shard(prefix)
        self.seq_len = seq_len
        self.lengths = self.shard.lengths.astype(np.int64)
        self.starts = self.shard.pointers // self.shard.dtype.itemsize
        self.tokens_per_epoch = int(self.lengths.sum())
        if self.tokens_per_epoch == 0 and num_samples:
            raise ValueError(f"{prefix}: no tokens to build samples from")
        self.num_epochs = self.epochs_for(num_samples) if self.tokens_per_epoch else 1
        with open(self.shard.prefix + ".idx", "rb") as f:
            idx_hash = hashlib.file_digest(f, "blake2b").hexdigest()[:16]
        key = _digest(CACHE_VERSION, idx_hash, seq_len, seed, num_samples)
        base = os.path.join(cache_dir or os.path.dirname(self.shard.prefix), f"{os.path.basename(self.shard.prefix)}.{key}")
        self.doc_idx = _cached(base + ".doc_idx.npy", lambda: self._doc_index(seed))
        self.sample_idx = _cached(base + ".sample_idx.npy", lambda: self._sample_index(num_samples))
        self.shuffle_idx = _cached(base + ".shuffle_idx.npy", lambda: self._shuffle_index(seed, num_samples))

    def samples_in(self, epochs: int) -> int:
        return (epochs * self.tokens_per_epoch - 1) // self.seq_len

    def epochs_for(self, num_samples: int) -> int:
        epochs = 1
        while self.samples_in(epochs) < num_samples:
            epochs += 1
        return epochs

    def _doc_index(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 0])
        n = len(self.lengths)
        dtype = np.int32 if n < 2**31 else np.int64
        return np.concatenate([rng.permutation(n).astype(dtype) for _ in range(self.num_epochs)])

    def _sample_index(self, num_samples: int) -> np.ndarray:
        ends = np.cumsum(self.lengths[self.doc_idx])
        positions = np.arange(num_samples, dtype=np.int64) * self.seq_len
        docs = np.searchsorted(ends, positions, side="right")
        offsets = positions - (ends[docs] - self.lengths[self.doc_idx[docs]])
        return np.stack([docs, offsets], axis=1)

    def _shuffle_index(self, seed: int, num_samples: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 1])
        epoch = np.arange(num_samples, dtype=np.int64) * self.seq_len // self.tokens_per_epoch
        bounds = np.flatnonzero(np.diff(epoch)) + 1
        groups = np.split(np.arange(num_samples, dtype=np.int64), bounds)
        return np.concatenate([g[rng.permutation(len(g))] for g in groups]) if num_samples else np.zeros(0, np.int64)

    def sample(self, i: int, out: np.ndarray) -> np.ndarray:
        """Write unshuffled sample ``i`` (``seq_len + 1`` tokens) into ``out``."""
        j, offset = self.sample_idx[i].tolist()
        need, pos = len(out), 0
        tokens, doc_idx, lengths, starts = self.shard.tokens, self.doc_idx, self.lengths, self.starts
        while pos < need:
            d = doc_idx[j]
            take = min(int(lengths[d]) - offset, need - pos)
            begin = int(starts[d]) + offset
            out[pos : pos + take] = tokens[begin : begin + take]
            pos += take
            j += 1
            offset = 0
        return out


def blend_indices(weights: list[float], num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, sample within source) of every global sample: serve the source lagging its weight most.

    At global sample ``i`` the lag of source ``c`` is ``weights[c] * (i + 1) - served[c]``; ties go
    to the lower index. A plain loop (about 1 s per million samples), run once and cached.
    """
    served = [0] * len(weights)
    which = [0] * num_samples
    others = range(1, len(weights))
    for i in range(num_samples):
        t = i + 1
        best, best_lag = 0, weights[0] * t - served[0]
        for c in others:
            lag = weights[c] * t - served[c]
            if lag > best_lag:
                best, best_lag = c, lag
        which[i] = best
        served[best] += 1
    which_arr = np.asarray(which, np.int64)
    local = np.empty(num_samples, np.int64)
    for c in range(len(weights)):
        at = np.flatnonzero(which_arr == c)
        local[at] = np.arange(len(at))
    return which_arr, local


class PackedDataset:
    """Map-style dataset of packed ``int64`` samples of ``seq_len + 1`` tokens.

    ``num_samples`` fixes the length; otherwise it is as many samples as
    ``num_epochs`` (default 1) passes over the source that runs out first allow
    at its weight. Deterministic for a seed; indices are cached under ``cache_dir``
    (default: next to each shard).
    """

    def __init__(
        self,
        prefixes: list[str],
        weights: list[float] | None = None,
        seq_len: int = 2048,
        seed: int = 0,
        cache_dir: str | None = None,
        num_epochs: int | None = None,
        num_samples: int | None = None,
    ):
        if not prefixes:
            raise ValueError("PackedDataset needs at least one shard prefix")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        weights = [1.0] * len(prefixes) if weights is None else [float(w) for w in weights]
        if len(weights) != len(prefixes) or any(w <= 0 for w in weights):
            raise ValueError("weights must be positive, one per prefix")
        total = sum(weights)
        self.prefixes = [indexed.shard_prefix(p) for p in prefixes]
        self.weights = [w / total for w in weights]
        self.seq_len, self.seed, self.cache_dir = seq_len, seed, cache_dir
        self.num_epochs = num_epochs
        self._args = (prefixes, weights, seq_len, seed, cache_dir, num_epochs, num_samples)
        if num_samples is None:
            num_samples = self._epoch_samples(num_epochs or 1)
        self.num_samples = num_samples
        if len(self.prefixes) == 1:
            self.which = np.zeros(num_samples, np.int32)
            self.local = np.arange(num_samples, dtype=np.int64)
            counts = [num_samples]
        else:
            key = _digest(CACHE_VERSION, self.prefixes, self.weights, num_samples)
            base = os.path.join(cache_dir or os.path.dirname(self.prefixes[0]), f"blend.{key}")
            index = _cached(base + ".npy", lambda: np.stack(blend_indices(self.weights, num_samples), axis=1))
            self.which, self.local = index[:, 0], index[:, 1]
            counts = np.bincount(self.which, minlength=len(self.prefixes)).tolist()
        self.sources = [_Source(p, seq_len, seed, n, cache_dir) for p, n in zip(self.prefixes, counts)]

    def _epoch_samples(self, epochs: int) -> int:
        capacity = []
        for p in self.prefixes:
            shard = indexed.Shard(p)
            capacity.append((epochs * int(shard.lengths.astype(np.int64).sum()) - 1) // self.seq_len)
        return int(min(c / w for c, w in zip(capacity, self.weights)))

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.num_samples:
            raise IndexError(f"sample {i} out of range [0, {self.num_samples})")
        source = self.sources[int(self.which[i])]
        out = np.empty(self.seq_len + 1, np.int64)
        return source.sample(int(source.shuffle_idx[int(self.local[i])]), out)

    def __reduce__(self):
        # Rebuilt from the cached indices in a worker process instead of pickling memory maps.
        return (PackedDataset, self._args)


class RankSampler:
    """Micro-batches of sample indices for one data-parallel rank (Megatron's pretraining sampler).

    Global batch ``b`` is samples ``[b * G, (b + 1) * G)`` with ``G = micro_batch_size * dp_size``;
    rank ``r`` takes its ``r``-th slice of ``micro_batch_size``. ``consumed_samples`` is the
    global count already trained on, so a restart continues exactly where it stopped.
    ``drop_last`` drops a final incomplete global batch; otherwise each rank gets its part of it.
    """

    def __init__(
        self,
        num_samples: int,
        dp_rank: int,
        dp_size: int,
        micro_batch_size: int,
        consumed_samples: int = 0,
        drop_last: bool = True,
    ):
        if not 0 <= dp_rank < dp_size or micro_batch_size < 1:
            raise ValueError(f"bad sampler config: rank {dp_rank} of {dp_size}, micro batch {micro_batch_size}")
        if consumed_samples < 0 or consumed_samples > num_samples:
            raise ValueError(f"consumed_samples {consumed_samples} outside [0, {num_samples}]")
        self.num_samples, self.dp_rank, self.dp_size = num_samples, dp_rank, dp_size
        self.micro_batch_size, self.consumed_samples, self.drop_last = micro_batch_size, consumed_samples, drop_last

    def _batches(self):
        mbs = self.micro_batch_size
        step = mbs * self.dp_size
        start = self.consumed_samples
        while start + step <= self.num_samples:
            yield start + self.dp_rank * mbs, start + (self.dp_rank + 1) * mbs
            start += step
        if not self.drop_last and start < self.num_samples:
            lo = min(start + self.dp_rank * mbs, self.num_samples)
            hi = min(lo + mbs, self.num_samples)
            if lo < hi:
                yield lo, hi

    def __iter__(self):
        for lo, hi in self._batches():
            yield list(range(lo, hi))

    def __len__(self) -> int:
        return sum(1 for _ in self._batches())
