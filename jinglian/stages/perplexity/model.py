"""A character n-gram language model with interpolated modified Kneser-Ney smoothing.

CCNet and ChineseWebText score web text by its perplexity under a KenLM model
trained on clean text: mis-decoded bytes, spun synonym salad and keyword lists
read as improbable character sequences. KenLM's PyPI package only queries
models (training needs its C++ ``lmplz`` binary), so this is our own trainer
and scorer, built from numpy so both stay vectorised:

* an n-gram is a 64-bit polynomial hash of its character ids (collisions are
  negligible at these table sizes), one sorted key array per order;
* each order stores, per n-gram, its discounted probability mass
  ``max(c - D(c), 0) / c(context)`` and, per context, the back-off weight
  ``gamma(context)`` (Chen & Goodman's modified Kneser-Ney, three discounts per
  order estimated from count-of-counts; lower orders use continuation counts);
* n-grams of order >= 3 seen once are pruned by default (their mass moves to the
  back-off weight, so every distribution still sums to one): most of the table,
  little of the score;
* scoring looks every position of a whole batch up in each order's table (a
  bucket index over the sorted keys) and builds ``p = mass_k + gamma_k * p_{k-1}``
  from unigrams upward.

Text is normalised as CCNet does (NFKC, lower case, every digit the same
digit) and cut into lines; each line is padded with ``order - 1`` start symbols
and ends with an end-of-line symbol, so a document's score is the
length-weighted mean over its lines and a short line is judged on its own.
Characters seen fewer than ``min_char_count`` times in training become one
unknown symbol, which therefore has a trained probability.
"""

from __future__ import annotations

import io
import os
import unicodedata
from dataclasses import dataclass

import numpy as np

from jinglian.core.atomic import atomic_path

UNK, BOS, EOS = 0, 1, 2  # reserved ids; characters start at 3
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: multiplier of the rolling hash
_FORMAT = 1


@dataclass
class LMConfig:
    order: int = 5
    min_char_count: int = 2  # rarer characters share the unknown symbol
    max_chars: int = 20_000  # characters of each document read for training and scoring
    # n-grams of order >= 3 seen fewer times than this are dropped, their mass given to the back-off
    # (KenLM's --prune): singletons are most of the table and add little to the scores of unseen text
    prune_below: int = 2


def normalize(text: str) -> str:
    """NFKC, lower case (digits are mapped to one id by the vocabulary, not here)."""
    return unicodedata.normalize("NFKC", text).lower()


def _lines(text: str, max_chars: int) -> list[str]:
    return [ln for ln in (s.strip() for s in normalize(text[:max_chars]).split("\n")) if ln]


def _codepoints(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _Sequence:
    """Character ids of many lines, each padded with start symbols and closed by EOS, plus its hashes."""

    def __init__(self, ids_of_text: np.ndarray, order: int):
        # ids_of_text: ids of "line\nline\n...\n" with EOS at each newline position.
        pad = order - 1
        rep = np.where(ids_of_text == EOS, 1 + pad, 1)
        seq = np.repeat(ids_of_text, rep)
        starts = np.cumsum(rep) - rep
        eos_at = starts[ids_of_text == EOS]
        for j in range(1, pad + 1):
            seq[eos_at + j] = BOS
        # the first line's padding; the padding after the last EOS is dropped
        self.ids = np.concatenate([np.full(pad, BOS, dtype=np.int64), seq[: len(seq) - pad]]).astype(np.int64)
        self.target = self.ids != BOS  # positions whose character is predicted
        # hashes[k-1][i]: hash of the k-gram ending at i (k = 1..order); hashes of padding are never used as targets
        hashes = [self.ids.astype(np.uint64) + np.uint64(1)]
        with np.errstate(over="ignore"):
            for k in range(2, order + 1):
                prev = np.empty_like(hashes[-1])
                prev[0] = np.uint64(k)
                prev[1:] = hashes[-1][:-1]
                hashes.append(prev * _MIX + hashes[0] + np.uint64(k) * np.uint64(0x632BE59BD9B4E019))
        self.hashes = hashes

    def context(self, k: int) -> np.ndarray:
        """Hash of the context of the k-gram ending at each position (the (k-1)-gram ending just before)."""
        if k == 1:
            return np.zeros(len(self.ids), dtype=np.uint64)
        out = np.empty(len(self.ids), dtype=np.uint64)
        out[0] = np.uint64(0)
        out[1:] = self.hashes[k - 2][:-1]
        return out


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts (Chen & Goodman 1998)."""
    n = [int(np.sum(counts == i)) for i in (1, 2, 3, 4)]
    if min(n) == 0:
        return np.array([0.5, 1.0, 1.5])  # too little data for the estimate; conventional values
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, 0.05, np.array([1.0, 2.0, 3.0]))


class CharNgramLM:
    """A trained model: per order, sorted n-gram keys with their mass, sorted context keys with gamma."""

    def __init__(self, config: LMConfig, chars: np.ndarray, tables: list[dict[str, np.ndarray]]):
        self.config = config
        self.chars = chars  # code points of the vocabulary, id = index + 3
        self.tables = tables
        self.vocab_size = len(chars) + 3
        self._lut = np.full(0x110000, UNK, dtype=np.int32)
        self._lut[chars.astype(np.int64)] = np.arange(3, len(chars) + 3, dtype=np.int32)
        self._lut[ord("\n")] = EOS
        zero = self._lut[ord("0")]
        for cp in range(0x10000):  # every decimal digit is "0" (CCNet's normalisation)
            if chr(cp).isdecimal():
                self._lut[cp] = zero

    # -- training ----------------------------------------------------------
    @classmethod
    def train(cls, texts, config: LMConfig | None = None) -> "CharNgramLM":
        config = config or LMConfig()
        lines = [ln for t in texts for ln in _lines(t, config.max_chars)]
        if not lines:
            raise ValueError("perplexity: no text to train on")
        cps = _codepoints("\n".join(lines) + "\n")
        values, counts = np.unique(cps, return_counts=True)
        keep = (counts >= config.min_char_count) & (values != ord("\n"))
        digits = np.array([chr(int(v)).isdecimal() for v in values])
        chars = values[keep & ~digits]
        chars = np.union1d(chars, np.array([ord("0")], dtype=np.uint32)).astype(np.uint32)
        model = cls(config, chars, [])
        seq = _Sequence(model._lut[cps].astype(np.int64), config.order)
        model.tables = cls._estimate(seq, config.order, config.prune_below)
        return model

    @staticmethod
    def _estimate(seq: _Sequence, order: int, prune_below: int) -> list[dict[str, np.ndarray]]:
        t = seq.target
        # adjusted counts: raw counts at the top order, continuation counts below it
        grams_of_order, counts_of_order, first_of_order = [], [], []
        for k in range(1, order + 1):
            keys, first, counts = np.unique(seq.hashes[k - 1][t], return_index=True, return_counts=True)
            grams_of_order.append(keys)
            first_of_order.append(np.flatnonzero(t)[first])
            counts_of_order.append(counts)
        adjusted = [None] * order
        adjusted[order - 1] = counts_of_order[order - 1]
        for k in range(1, order):
            # distinct (k+1)-grams per k-gram suffix = distinct left extensions
            suffix = seq.hashes[k - 1][first_of_order[k]]
            cont_keys, cont = np.unique(suffix, return_counts=True)
            pos = np.searchsorted(cont_keys, grams_of_order[k - 1])
            adjusted[k - 1] = cont[np.clip(pos, 0, len(cont_keys) - 1)]
        tables = []
        for k in range(1, order + 1):
            keys, a = grams_of_order[k - 1], adjusted[k - 1].astype(np.float64)
            ctx = seq.context(k)[first_of_order[k - 1]]
            d = _discounts(adjusted[k - 1])
            disc = d[np.minimum(adjusted[k - 1], 3) - 1]
            ctx_keys, inverse = np.unique(ctx, return_inverse=True)
            total = np.bincount(inverse, weights=a, minlength=len(ctx_keys))
            freed = np.bincount(inverse, weights=disc, minlength=len(ctx_keys))
            kept = counts_of_order[k - 1] >= (prune_below if k >= 3 else 1)
            # a pruned n-gram's whole count moves to its context's back-off weight: still sums to one
            freed += np.bincount(inverse, weights=np.where(kept, 0.0, a - disc), minlength=len(ctx_keys))
            mass = np.maximum(a - disc, 0.0) / total[inverse]
            gamma = freed / total
            useful = gamma < 1.0 - 1e-6  # a missing context means gamma 1 (everything backs off)
            gram_keys, ctx_keys = _finalize(keys[kept]), _finalize(ctx_keys[useful])
            go, co = np.argsort(gram_keys), np.argsort(ctx_keys)
            tables.append({"keys": gram_keys[go], "mass": mass[kept][go].astype(np.float32),
                           "ctx_keys": ctx_keys[co], "gamma": gamma[useful][co].astype(np.float32)})
        return tables

    # -- scoring -----------------------------------------------------------
    @property
    def _indexes(self) -> list[tuple[_Index, _Index]]:
        if getattr(self, "_built", None) is None:
            self._built = [(_Index(t["keys"], t["mass"]), _Index(t["ctx_keys"], t["gamma"])) for t in self.tables]
        return self._built

    def _target_probs(self, ids_of_text: np.ndarray) -> tuple[_Sequence, np.ndarray]:
        """The sequence and the probability of each predicted symbol in it."""
        seq = _Sequence(ids_of_text, self.config.order)
        t = seq.target
        p = np.full(int(t.sum()), 1.0 / self.vocab_size)
        for k, (grams, contexts) in enumerate(self._indexes, start=1):
            gamma = contexts.get(_finalize(seq.context(k)[t]), 1.0)
            mass = grams.get(_finalize(seq.hashes[k - 1][t]), 0.0)
            p = mass + gamma * p
        return seq, p

    def _line_logprobs(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Natural-log probability sum and predicted-symbol count of each line (characters + EOS)."""
        if not lines:
            return np.zeros(0), np.zeros(0)
        seq, p = self._target_probs(self._lut[_codepoints("\n".join(lines) + "\n")].astype(np.int64))
        eos = seq.ids[seq.target] == EOS
        line_of = np.cumsum(eos) - eos
        logp = np.bincount(line_of, weights=np.log(p), minlength=len(lines))
        return logp, np.bincount(line_of, minlength=len(lines)).astype(np.float64)

    def next_symbol_probs(self, context: str) -> np.ndarray:
        """P(symbol | context) for every symbol id after a line starting with ``context`` (ids: UNK, BOS, EOS,
        then the vocabulary); BOS is never predicted, so its entry is the uniform floor's share only."""
        ctx = self._lut[_codepoints(normalize(context))].astype(np.int64)
        candidates = [s for s in range(self.vocab_size) if s != BOS]
        ids = np.concatenate([np.concatenate([ctx, [s] if s == EOS else [s, EOS]]) for s in candidates])
        seq, p = self._target_probs(ids)
        # the candidate is the (len(ctx) + 1)-th predicted symbol of each line
        per_line = len(ctx) + np.array([1 if s == EOS else 2 for s in candidates])
        at = np.cumsum(per_line) - per_line + len(ctx)
        out = np.zeros(self.vocab_size)
        out[candidates] = p[at]
        return out

    def perplexity(self, texts: list[str]) -> np.ndarray:
        """Per document: exp(-mean log-probability per symbol) over all its lines (inf for an empty text)."""
        per_doc = [_lines(t or "", self.config.max_chars) for t in texts]
        flat = [ln for lines in per_doc for ln in lines]
        logp, n = self._line_logprobs(flat)
        doc_of = np.repeat(np.arange(len(texts)), [len(x) for x in per_doc])
        total = np.bincount(doc_of, weights=logp, minlength=len(texts))
        symbols = np.bincount(doc_of, weights=n, minlength=len(texts))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(symbols > 0, np.exp(-total / np.maximum(symbols, 1)), np.inf)

    def line_perplexity(self, text: str) -> list[tuple[str, float]]:
        """Each (normalised) line of a text with its perplexity: for inspecting what a document was judged on."""
        lines = _lines(text, self.config.max_chars)
        logp, n = self._line_logprobs(lines)
        return [(ln, float(np.exp(-lp / c))) for ln, lp, c in zip(lines, logp, n)]

    # -- storage -----------------------------------------------------------
    def save(self, path: str) -> None:
        arrays = {"format": np.array([_FORMAT, self.config.order, self.config.min_char_count, self.config.max_chars,
                                      self.config.prune_below]),
                  "chars": self.chars}
        for k, table in enumerate(self.tables, start=1):
            arrays.update({f"{name}{k}": value for name, value in table.items()})
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # np.savez on a file object: no ".npz" appended
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str) -> "CharNgramLM":
        if not os.path.exists(path):
            raise FileNotFoundError(f"perplexity: model not found: {path} (train one with `jinglian perplexity train`)")
        with open(path, "rb") as f:
            data = np.load(io.BytesIO(f.read()))
            fmt, order, min_count, max_chars, prune_below = (int(x) for x in data["format"])
            if fmt != _FORMAT:
                raise ValueError(f"perplexity: {path} has model format {fmt}, this version reads {_FORMAT}")
            tables = [{name: data[f"{name}{k}"] for name in ("keys", "mass", "ctx_keys", "gamma")}
                      for k in range(1, order + 1)]
            return cls(LMConfig(order, min_count, max_chars, prune_below), data["chars"], tables)


def _finalize(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection (no new collisions) that spreads every hash over the top bits."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


class _Index:
    """Exact lookup in a sorted array of well-mixed 64-bit keys, one bucket per top-bits prefix.

    ``np.searchsorted`` costs ~20 dependent random reads per query on a table of a
    million keys; with about one key per bucket a query reads the bucket start and
    one or two keys (the loop runs over the still-unresolved queries only).
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        self.keys, self.values = keys, values.astype(np.float64)
        self.shift = np.uint64(64 - max(1, int(np.ceil(np.log2(max(2, len(keys)))))))
        buckets = 1 << (64 - int(self.shift))
        self.start = np.searchsorted(keys >> self.shift, np.arange(buckets + 1, dtype=np.uint64))

    def get(self, queries: np.ndarray, missing: float) -> np.ndarray:
        out = np.full(len(queries), missing)
        bucket = queries >> self.shift
        pos, end = self.start[bucket], self.start[bucket + np.uint64(1)]
        active = np.flatnonzero(pos < end)
        while len(active):
            p = pos[active]
            k = self.keys[p]
            q = queries[active]
            hit = k == q
            out[active[hit]] = self.values[p[hit]]
            pos[active] = p + 1
            # sorted keys: once past the query, it is not in the bucket
            active = active[~hit & (k < q) & (p + 1 < end[active])]
        return out
