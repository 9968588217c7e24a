"""Train, load, score and evaluate the fastText quality classifier.

Two labels: ``__label__hq`` (reads like reference text) and ``__label__lq``
(spam, boilerplate, gibberish, keyword lists). A document's ``quality_score`` is
the probability of ``hq``.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from typing import Callable

import numpy as np

from jinglian.core.atomic import atomic_path
from jinglian.stages.quality import train_process
from jinglian.stages.quality.features import MAX_CHARS, features

HQ, LQ = "__label__hq", "__label__lq"


@dataclass
class TrainConfig:
    epoch: int = 15
    lr: float = 0.5
    dim: int = 32
    word_ngrams: int = 2  # character bigrams for CJK (see features.py)
    minn: int = 0  # no subword n-grams: they cost speed and help little at this granularity
    maxn: int = 0
    bucket: int = 500_000
    valid_fraction: float = 0.2  # held out for precision/recall/F1
    # repeat the smaller class's training texts until both classes weigh about the same (fastText has no
    # sample weights). Off by default: not measured to help on the genre benchmark yet
    balance: bool = False
    max_chars: int = MAX_CHARS
    seed: int = 0


@dataclass
class Metrics:
    n: int
    accuracy: float
    precision_hq: float
    recall_hq: float
    f1_hq: float
    precision_lq: float
    recall_lq: float
    f1_lq: float

    def lines(self) -> list[str]:
        return [f"documents: {self.n}  accuracy: {self.accuracy:.3f}",
                f"high quality (keep):  precision {self.precision_hq:.3f}  recall {self.recall_hq:.3f}  F1 {self.f1_hq:.3f}",
                f"low quality (reject): precision {self.precision_lq:.3f}  recall {self.recall_lq:.3f}  F1 {self.f1_lq:.3f}"]


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def metrics(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> Metrics:
    """``labels``: True for high quality. A document is predicted high quality when its score >= threshold."""
    pred = scores >= threshold
    tp, fp, fn, tn = (int(np.sum(pred & labels)), int(np.sum(pred & ~labels)),
                      int(np.sum(~pred & labels)), int(np.sum(~pred & ~labels)))
    hq, lq = _prf(tp, fp, fn), _prf(tn, fn, fp)
    return Metrics(len(labels), (tp + tn) / max(1, len(labels)), *hq, *lq)


class QualityModel:
    def __init__(self, model, max_chars: int = MAX_CHARS, featurize: Callable[[str, int], str] = features):
        self.model = model
        self.max_chars = max_chars
        self.featurize = featurize

    @classmethod
    def load(cls, path: str) -> "QualityModel":
        import fasttext

        if not os.path.exists(path):
            raise FileNotFoundError(f"quality: model not found: {path} (train one with `jinglian quality train`)")
        return cls(fasttext.load_model(path))

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_path(path) as tmp:
            self.model.save_model(tmp)

    def score(self, texts: list[str]) -> np.ndarray:
        """Probability of high quality for each text (batched through fastText's C++ predict)."""
        if not texts:
            return np.zeros(0)
        labels, probs = self.model.predict([self.featurize(t or "", self.max_chars) for t in texts], k=2)
        out = np.empty(len(texts))
        for i, (ls, ps) in enumerate(zip(labels, probs)):
            d = dict(zip(ls, ps))
            out[i] = d.get(HQ, 1.0 - d.get(LQ, 1.0))
        return np.clip(out, 0.0, 1.0)

    def evaluate(self, positives: list[str], negatives: list[str], threshold: float = 0.5) -> Metrics:
        scores = self.score(positives + negatives)
        labels = np.array([True] * len(positives) + [False] * len(negatives))
        return metrics(scores, labels, threshold)


def split(positives: list[str], negatives: list[str], valid_fraction: float, seed: int):
    """Deduplicated, shuffled (train, held-out) lists of (text, is_hq), stratified by label."""
    rng = random.Random(seed)
    train, valid = [], []
    for texts, label in ((positives, True), (negatives, False)):
        unique = sorted(set(texts))
        rng.shuffle(unique)
        k = int(round(len(unique) * valid_fraction))
        valid += [(t, label) for t in unique[:k]]
        train += [(t, label) for t in unique[k:]]
    rng.shuffle(train)
    return train, valid


def balanced(rows: list[tuple[str, bool]], seed: int) -> list[tuple[str, bool]]:
    """Rows with the smaller class repeated (whole copies, then a random remainder) to the larger one's size."""
    pos = [r for r in rows if r[1]]
    neg = [r for r in rows if not r[1]]
    small, large = (pos, neg) if len(pos) < len(neg) else (neg, pos)
    if not small:
        return rows
    rng = random.Random(seed)
    copies, rest = divmod(len(large), len(small))
    out = large + small * copies + rng.sample(small, rest)
    rng.shuffle(out)
    return out


def train(positives: list[str], negatives: list[str], config: TrainConfig | None = None,
          featurize: Callable[[str, int], str] = features) -> tuple[QualityModel, Metrics | None]:
    """Train on a split of the data; returns the model and its held-out metrics (None without a held-out split).

    ``featurize`` exists so the benchmark can compare our features with plain whitespace tokens.
    """
    import fasttext

    config = config or TrainConfig()
    if not positives or not negatives:
        raise ValueError("quality: training needs both positive and negative texts")
    train_rows, valid_rows = split(positives, negatives, config.valid_fraction, config.seed)
    if config.balance:
        train_rows = balanced(train_rows, config.seed)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
        for text, is_hq in train_rows:
            f.write(f"{HQ if is_hq else LQ} {featurize(text, config.max_chars)}\n")
        path = f.name
    model_path = f"{path}.bin"
    try:
        train_process.run(path, model_path, dict(
            epoch=config.epoch, lr=config.lr, dim=config.dim, wordNgrams=config.word_ngrams, minn=config.minn,
            maxn=config.maxn, bucket=config.bucket, loss="softmax", thread=1, seed=config.seed, verbose=0))
        ft = fasttext.load_model(model_path)
    finally:
        for p in (path, model_path):
            if os.path.exists(p):
                os.unlink(p)
    model = QualityModel(ft, config.max_chars, featurize)
    if not valid_rows:
        return model, None
    scores = model.score([t for t, _ in valid_rows])
    return model, metrics(scores, np.array([label for _, label in valid_rows]))
